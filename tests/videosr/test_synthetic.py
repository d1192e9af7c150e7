"""The camera-like clip: deterministic, moving camera and objects, flat and detailed regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from videosr.io import read_frames
from videosr.synthetic import render_frames, write_clip


def test_render_properties(tmp_path: Path) -> None:
    a = render_frames(4, 60, 80, seed=7)
    np.testing.assert_array_equal(a, render_frames(4, 60, 80, seed=7))
    assert a.shape == (4, 60, 80, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, render_frames(4, 60, 80, seed=8))
    assert np.abs(a[1].astype(int) - a[0]).mean() > 2  # camera / objects move
    # local detail varies: some 10x10 blocks are nearly flat, others strongly textured
    stds = [a[0, y : y + 10, x : x + 10].std(axis=(0, 1)).mean() for y in range(0, 60, 10) for x in range(0, 80, 10)]
    assert min(stds) < 6 and max(stds) > 25
    path = write_clip(tmp_path / "c.mp4", frames=5, height=48, width=64, seed=1)
    dec = read_frames(path)
    assert len(dec.frames) == 5 and dec.frames[0].shape == (48, 64, 3)
    assert np.abs(dec.frames[2].astype(int) - render_frames(5, 48, 64, seed=1)[2]).mean() < 12  # H.264, 4:2:0
