"""Per-method evaluation (whole-frame PSNR/SSIM, per chunk, per frame) and the run's plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from videosr.metrics import patch_mse, patch_psnr_shaved, psnr, psnr_from_mse, psnr_y, ssim


def evaluate_method(
    frames: Sequence[np.ndarray], hr: Sequence[np.ndarray], labels: np.ndarray, grid: tuple[int, int], chunks: int, scale: int
) -> dict[str, Any]:
    """Metrics of SR ``frames`` against ``hr`` (lists of (H, W, 3) uint8).

    Returns ``psnr_rgb``, ``psnr_y``, ``ssim`` (means over frames of whole-frame values, no shave),
    ``psnr_per_frame``, ``psnr_y_per_frame``, ``psnr_per_chunk`` (PSNR of the pooled MSE over all
    patches of each chunk, no shave) and ``psnr_patch_shaved_ref`` (mean per-patch PSNR with ``scale``
    pixels shaved per patch, the STDO reference code's number; falls back to no shave for patches too
    small to shave: ``psnr_patch_shave_px`` says which).
    """
    per_frame, per_frame_y, ssims, shaved = [], [], [], []
    chunk_sum = np.zeros(chunks, np.float64)
    chunk_n = np.zeros(chunks, np.int64)
    ph = hr[0].shape[0] // grid[0]
    pw = hr[0].shape[1] // grid[1]
    shave = scale if min(ph, pw) > 2 * scale else 0
    for t, (sr, ref) in enumerate(zip(frames, hr, strict=True)):
        per_frame.append(psnr(sr, ref))
        per_frame_y.append(psnr_y(sr, ref))
        ssims.append(ssim(sr, ref))
        shaved.append(patch_psnr_shaved(sr, ref, grid, shave))
        pm = patch_mse(sr, ref, grid)
        for c in range(chunks):
            sel = labels[t] == c
            chunk_sum[c] += pm[sel].sum()
            chunk_n[c] += int(sel.sum())
    return {
        "psnr_rgb": float(np.mean(per_frame)),
        "psnr_y": float(np.mean(per_frame_y)),
        "ssim": float(np.mean(ssims)),
        "psnr_patch_shaved_ref": float(np.mean(shaved)),
        "psnr_patch_shave_px": shave,
        "psnr_per_chunk": [psnr_from_mse(chunk_sum[c] / chunk_n[c]) if chunk_n[c] else None for c in range(chunks)],
        "psnr_per_frame": [float(v) for v in per_frame],
        "psnr_y_per_frame": [float(v) for v in per_frame_y],
    }


def write_plots(folder: Path, per_frame: dict[str, list[float]], labels: np.ndarray, difficulty: np.ndarray, frame: int = 0) -> list[Path]:
    """Write ``psnr_per_frame.png`` (one line per method) and ``chunk_labels.png`` (labels of ``frame``
    beside M0's patch PSNR). Returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for method, values in per_frame.items():
        vals = [v if np.isfinite(v) else np.nan for v in values]
        ax.plot(range(len(vals)), vals, marker="o", markersize=3, label=f"{method} ({np.nanmean(vals):.2f} dB)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("frame")
    ax.set_ylabel("PSNR RGB (dB, whole frame)")
    ax.set_title("PSNR per frame")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(folder / "psnr_per_frame.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    k = int(labels.max()) + 1
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    im = axes[0].imshow(labels[frame], cmap="viridis_r", vmin=0, vmax=max(k - 1, 1))
    axes[0].set_title(f"chunk labels, frame {frame} (0 = hardest)")
    fig.colorbar(im, ax=axes[0], ticks=range(k))
    d = np.where(np.isfinite(difficulty[frame]), difficulty[frame], np.nan)
    im2 = axes[1].imshow(d, cmap="magma")
    axes[1].set_title("M0 patch PSNR (dB)")
    fig.colorbar(im2, ax=axes[1])
    for a in axes:
        a.set_xlabel("patch column")
        a.set_ylabel("patch row")
    fig.tight_layout()
    paths.append(folder / "chunk_labels.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
