"""Object identification with centroid-triplet-loss (CTL) embeddings.

Modules (import what you need; nothing is imported here):

* ``model``: ``build_embedder`` (timm backbone + projection + BNNeck, L2-normalised), ``save_embedder``,
  ``load_embedder`` (our ``.pt`` or a Lightning ``.ckpt``, weights_only).
* ``embed``: ``ImageEmbedder`` (RGB uint8 images of any size -> (N, D) float32).
* ``gallery``: ``Gallery`` (per-product embeddings, faiss search, safetensors storage).
* ``identifier``: ``Identifier`` (crops -> ranked product ids).
* ``ctl``: centroid triplet loss and extra terms (pure functions + ``CTLCriterion``).
* ``armbench`` / ``evaluate``: dataset reader (safe split loader) and the published protocols.
* ``sampler`` / ``data`` / ``lit`` / ``lightning_cli``: training (Lightning).
* ``fixture``: generated products and ArmBench-format datasets; ``quickstart``: the quickstart step.
"""
