"""Full-frame reconstruction without seams, and plain model inference on uint8 frames.

Each chunk model runs over the *whole* LR frame (so every output pixel sees its full receptive field,
as in a single-model upscale); each HR patch is then taken from the output of the model of its chunk.
There are no seams at patch borders beyond the genuine difference between two models' outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from videosr.patches import patch_boxes


def to_tensor(frames: Sequence[np.ndarray]) -> torch.Tensor:
    """(h, w, 3) uint8 frames -> (B, 3, h, w) float32 in [0, 1]."""
    arr = np.stack([np.asarray(f) for f in frames])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(batch: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) float -> list of (H, W, 3) uint8 (clamped to [0, 1], rounded)."""
    arr = batch.detach().clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(a) for a in arr]


@torch.no_grad()
def upscale(model: nn.Module, lr_frames: Sequence[np.ndarray], batch_size: int = 4) -> list[np.ndarray]:
    """Run ``model`` (eval mode) on (h, w, 3) uint8 frames -> (s*h, s*w, 3) uint8 frames."""
    was_training = model.training
    model.eval()
    out: list[np.ndarray] = []
    for i in range(0, len(lr_frames), batch_size):
        out += to_uint8(model(to_tensor(lr_frames[i : i + batch_size])))
    model.train(was_training)
    return out


def stitch(outputs: Sequence[np.ndarray], labels: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Compose one HR frame: patch (r, c) from ``outputs[labels[r, c]]``.

    Args:
        outputs: per chunk, the full (H, W, 3) uint8 output of that chunk's model.
        labels: (rows, cols) chunk index per patch.
    """
    frame = np.empty_like(outputs[0])
    h, w = frame.shape[:2]
    for (r, c), (y0, y1, x0, x1) in patch_boxes(h, w, grid):
        frame[y0:y1, x0:x1] = outputs[int(labels[r, c])][y0:y1, x0:x1]
    return frame


@torch.no_grad()
def reconstruct(
    models: Sequence[nn.Module], labels: np.ndarray, lr_frames: Sequence[np.ndarray], grid: tuple[int, int], batch_size: int = 4
) -> list[np.ndarray]:
    """STDO reconstruction of every frame: (T, rows, cols) labels, one model per chunk -> HR uint8 frames.

    Only the models whose chunk occurs in a frame batch are run on it.
    """
    result: list[np.ndarray] = []
    for i in range(0, len(lr_frames), batch_size):
        batch = lr_frames[i : i + batch_size]
        lab = labels[i : i + len(batch)]
        per_model: dict[int, list[np.ndarray]] = {}
        for c in np.unique(lab):
            per_model[int(c)] = upscale(models[int(c)], batch, batch_size)
        for j in range(len(batch)):
            ref = next(iter(per_model.values()))[j]
            outputs = [per_model[c][j] if c in per_model else ref for c in range(len(models))]
            result.append(stitch(outputs, lab[j], grid))
    return result
