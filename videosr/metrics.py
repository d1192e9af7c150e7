"""Image quality metrics for SR: PSNR on RGB and on Y (BT.601), SSIM, shaved patch PSNR.

All functions are pure and take uint8 ``(H, W, 3)`` RGB images (or float arrays on the 0..255 scale).
PSNR of identical images is ``inf``.

- :func:`psnr` -- over every pixel and channel, no border shave (whole stitched frames).
- :func:`psnr_y` -- on the luma of ITU-R BT.601 as MATLAB ``rgb2ycbcr`` computes it
  (Y in [16, 235]), the usual SR-paper convention, no shave.
- :func:`ssim` -- Wang et al. 2004 on Y: Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, L 255,
  mean over the valid region (as MATLAB ``ssim_index``).
- :func:`patch_psnr_shaved` -- what the STDO reference code reports: PSNR of each patch after cutting
  ``shave`` pixels from its border, averaged over patches. Labelled as such in reports.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from videosr.patches import patch_boxes


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over all elements, in float64."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def psnr_from_mse(m: float, peak: float = 255.0) -> float:
    """10 log10(peak^2 / mse); ``inf`` for mse 0."""
    return math.inf if m <= 0 else 10.0 * math.log10(peak * peak / m)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB between two images of equal shape on the 0..peak scale."""
    return psnr_from_mse(mse(a, b), peak)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB on 0..255 -> (H, W) float64 BT.601 luma in [16, 235] (MATLAB rgb2ycbcr)."""
    x = img.astype(np.float64)
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR on BT.601 luma (peak 255) of two RGB images."""
    return psnr(rgb_to_y(a), rgb_to_y(b))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised (size, size) Gaussian centred at (size-1)/2, as MATLAB ``fspecial('gaussian')``.

    (``cv2.getGaussianKernel`` is not a sampled Gaussian for even sizes, used for frames under 11 px.)
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    g /= g.sum()
    return np.outer(g, g)


def ssim(a: np.ndarray, b: np.ndarray, on_y: bool = True) -> float:
    """Mean SSIM of two RGB uint8 images (on Y by default, else mean over channels).

    Uses an 11x11 Gaussian window (sigma 1.5) over the valid region; images smaller than the window
    use a window of their size.
    """
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    if on_y:
        planes = [(rgb_to_y(a), rgb_to_y(b))]
    else:
        planes = [(a[..., c].astype(np.float64), b[..., c].astype(np.float64)) for c in range(a.shape[2])]
    vals = [_ssim_plane(x, y) for x, y in planes]
    return float(np.mean(vals))


def _ssim_plane(x: np.ndarray, y: np.ndarray, peak: float = 255.0) -> float:
    size = min(11, x.shape[0], x.shape[1])
    win = _gaussian_window(size, 1.5)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def filt(img: np.ndarray) -> np.ndarray:
        full = cv2.filter2D(img, cv2.CV_64F, win, borderType=cv2.BORDER_CONSTANT)
        r = size // 2
        lo = r
        hi_h, hi_w = img.shape[0] - (size - 1 - r), img.shape[1] - (size - 1 - r)
        return full[lo:hi_h, lo:hi_w]

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def patch_mse(sr: np.ndarray, hr: np.ndarray, grid: tuple[int, int], shave: int = 0) -> np.ndarray:
    """(rows, cols) float64 MSE of each grid patch of two (H, W, 3) images, after shaving each patch."""
    rows, cols = grid
    out = np.zeros((rows, cols), np.float64)
    for (r, c), (y0, y1, x0, x1) in patch_boxes(hr.shape[0], hr.shape[1], grid):
        a = sr[y0 + shave : y1 - shave, x0 + shave : x1 - shave]
        b = hr[y0 + shave : y1 - shave, x0 + shave : x1 - shave]
        if a.size == 0:
            raise ValueError(f"shave {shave} removes the whole {y1 - y0}x{x1 - x0} patch")
        out[r, c] = mse(a, b)
    return out


def patch_psnr(sr: np.ndarray, hr: np.ndarray, grid: tuple[int, int], shave: int = 0) -> np.ndarray:
    """(rows, cols) float64 PSNR of each grid patch (``inf`` where identical)."""
    m = patch_mse(sr, hr, grid, shave)
    return np.vectorize(psnr_from_mse, otypes=[np.float64])(m)


def patch_psnr_shaved(sr: np.ndarray, hr: np.ndarray, grid: tuple[int, int], shave: int) -> float:
    """Reference-code style: mean over patches of per-patch RGB PSNR with ``shave`` px cut per patch."""
    return float(np.mean(patch_psnr(sr, hr, grid, shave)))
