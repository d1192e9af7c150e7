"""Reconstruction: an identity-like model reproduces its input exactly; stitching takes each patch
from its own chunk's model without seams."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from videosr.models import build_sr
from videosr.reconstruct import reconstruct, stitch, upscale


class _Nearest(nn.Module):
    """Identity-like SR: nearest upsampling plus a constant offset (in 1/255 steps)."""

    def __init__(self, scale: int, offset: int = 0) -> None:
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest") + self.offset / 255.0


def test_identity_like_model_reproduces_input() -> None:
    rng = np.random.default_rng(0)
    lr = [rng.integers(0, 200, (6, 9, 3), dtype=np.uint8) for _ in range(3)]
    expected = [np.repeat(np.repeat(f, 2, 0), 2, 1) for f in lr]
    for out, exp in zip(upscale(_Nearest(2), lr), expected, strict=True):
        np.testing.assert_array_equal(out, exp)
    # the real ESPCN with its detail branch zeroed and a nearest skip is exactly nearest upsampling
    espcn = build_sr("espcn", 2, residual="nearest")
    with torch.no_grad():
        espcn.to_subpixels.weight.zero_()
        espcn.to_subpixels.bias.zero_()
    for out, exp in zip(upscale(espcn, lr), expected, strict=True):
        np.testing.assert_array_equal(out, exp)
    # k identical identity-like models, any labels: the stitched frame equals the input upscaled
    labels = rng.integers(0, 3, (3, 2, 3)).astype(np.uint8)
    recon = reconstruct([_Nearest(2)] * 3, labels, lr, (2, 3), batch_size=2)
    for out, exp in zip(recon, expected, strict=True):
        np.testing.assert_array_equal(out, exp)


def test_each_patch_from_its_chunk_model() -> None:
    rng = np.random.default_rng(1)
    lr = [rng.integers(0, 200, (4, 6, 3), dtype=np.uint8) for _ in range(2)]
    labels = np.array([[[0, 1, 2], [2, 1, 0]], [[1, 1, 1], [0, 0, 0]]], np.uint8)
    models = [_Nearest(2, offset=10 * c) for c in range(3)]
    recon = reconstruct(models, labels, lr, (2, 3), batch_size=1)
    for t, frame in enumerate(recon):
        base = np.repeat(np.repeat(lr[t], 2, 0), 2, 1).astype(int)
        for r in range(2):
            for c in range(3):
                patch = frame[r * 4 : (r + 1) * 4, c * 4 : (c + 1) * 4].astype(int)
                np.testing.assert_array_equal(patch, base[r * 4 : (r + 1) * 4, c * 4 : (c + 1) * 4] + 10 * labels[t, r, c])
    outs = [np.full((4, 6, 3), v, np.uint8) for v in (1, 2)]
    np.testing.assert_array_equal(stitch(outs, np.array([[0, 1, 0]]), (1, 3))[:, :, 0], [[1, 1, 2, 2, 1, 1]] * 4)
