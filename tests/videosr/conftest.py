"""Shared fixtures: small generated clips (cached per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from videosr.synthetic import write_clip


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 frames of 64x96 (HxW) camera-like H.264 mp4."""
    return write_clip(tmp_path_factory.mktemp("clip") / "tiny.mp4", frames=6, height=64, width=96, seed=3)


@pytest.fixture(autouse=True)
def one_thread() -> object:
    """Tiny models train far faster on one thread, especially on a shared machine; restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
