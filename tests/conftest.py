"""Test defaults: CPU only, no progress bars, few threads, deterministic seeds."""

from __future__ import annotations

import os

os.environ.setdefault("EDGEVISION_NO_PROGRESS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
