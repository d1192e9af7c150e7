"""Plumbing shared by every edgevision area: errors, atomic outputs, typed configs, progress, reports.

It lives here because the repository's top-level layout is fixed (vision/, identification/, videosr/,
export/, demos/); nothing in this sub-package imports torch at module level, so the torch-free bundle
player (export.player) can use it too.
"""
