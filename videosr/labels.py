"""Per-patch difficulty labels: PSNR of a general model's output against HR on the patch grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from videosr.metrics import patch_psnr
from videosr.reconstruct import upscale


def patch_difficulty(
    model: nn.Module, lr_frames: Sequence[np.ndarray], hr_frames: Sequence[np.ndarray], grid: tuple[int, int], batch_size: int = 4
) -> np.ndarray:
    """(T, rows, cols) float64 PSNR (dB, RGB, no shave) of ``model``'s whole-frame output per patch.

    The model runs on whole LR frames (uint8 (h, w, 3)); its quantised output is cut on the grid and
    compared to the HR patches. Low PSNR = hard patch. ``inf`` where a patch is reproduced exactly.
    """
    out = np.zeros((len(lr_frames), grid[0], grid[1]), np.float64)
    for i in range(0, len(lr_frames), batch_size):
        srs = upscale(model, lr_frames[i : i + batch_size], batch_size)
        for j, sr in enumerate(srs):
            out[i + j] = patch_psnr(sr, hr_frames[i + j], grid)
    return out
