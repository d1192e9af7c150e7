"""Equal-count quantile chunking of patch difficulties (STDO): chunk 0 holds the hardest patches.

Difficulty is the PSNR (dB) of a general model's output on a patch: lower PSNR = harder. Patches are
ranked by PSNR ascending (ties broken by their flat index, so the split is deterministic) and the rank
range is cut into k equal-count parts: patch of rank i gets chunk ``i * k // n``. Chunk sizes therefore
differ by at most one.
"""

from __future__ import annotations

import numpy as np

from vision.common.errors import UserError


def quantile_chunks(psnr: np.ndarray, k: int) -> np.ndarray:
    """Chunk label per patch: same shape as ``psnr``, uint8 in [0, k), 0 = lowest PSNR (hardest).

    Args:
        psnr: per-patch PSNR of any shape (e.g. (T, rows, cols)); ``inf`` (perfect) counts as easiest.
        k: number of chunks, 1 <= k <= number of patches.
    """
    scores = np.asarray(psnr, dtype=np.float64)
    n = scores.size
    if k < 1:
        raise UserError(f"--chunks must be >= 1, got {k}")
    if k > n:
        raise UserError(f"--chunks {k} is larger than the number of patches ({n})")
    if k > 256:
        raise UserError(f"--chunks must be <= 256, got {k}")
    if np.isnan(scores).any():
        raise ValueError("patch PSNR contains NaN")
    order = np.argsort(scores.ravel(), kind="stable")
    ranks = np.empty(n, np.int64)
    ranks[order] = np.arange(n)
    return (ranks * k // n).astype(np.uint8).reshape(scores.shape)


def chunk_thresholds(psnr: np.ndarray, labels: np.ndarray, k: int) -> list[dict[str, float]]:
    """Per chunk: patch count and min/mean/max PSNR (for the report)."""
    out = []
    for c in range(k):
        vals = np.asarray(psnr)[labels == c]
        finite = vals[np.isfinite(vals)]
        out.append(
            {
                "chunk": c,
                "patches": int(vals.size),
                "psnr_min": float(vals.min()) if vals.size else float("nan"),
                "psnr_mean": float(finite.mean()) if finite.size else float("inf"),
                "psnr_max": float(vals.max()) if vals.size else float("nan"),
            }
        )
    return out
