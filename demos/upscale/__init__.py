"""``edgevision demo upscale``: video -> STDO models -> mobile SR bundle -> playback -> comparison (:mod:`.demo`)."""
