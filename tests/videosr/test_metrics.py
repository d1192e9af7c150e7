"""PSNR / SSIM against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from videosr.metrics import patch_psnr, patch_psnr_shaved, psnr, psnr_y, rgb_to_y, ssim


def test_psnr_hand_values() -> None:
    a = np.full((4, 4, 3), 100, np.uint8)
    assert psnr(a, a) == math.inf
    b = a + 1  # MSE 1 -> 10 log10(255^2)
    assert psnr(a, b) == pytest.approx(48.1308036, abs=1e-6)
    c = a.copy()
    c[0, 0, 0] = 110  # one error of 10 in 48 values: MSE 100/48
    assert psnr(a, c) == pytest.approx(10 * math.log10(255**2 * 48 / 100), abs=1e-9)


def test_y_bt601() -> None:
    white = np.full((1, 1, 3), 255, np.uint8)
    black = np.zeros((1, 1, 3), np.uint8)
    assert rgb_to_y(white)[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(black)[0, 0] == pytest.approx(16.0)
    red = np.array([[[255, 0, 0]]], np.uint8)
    assert rgb_to_y(red)[0, 0] == pytest.approx(16 + 65.481)
    # a pure blue error of 255 moves Y by 24.966 -> PSNR_Y = 20 log10(255 / 24.966)
    blue = np.array([[[0, 0, 255]]], np.uint8)
    assert psnr_y(black, blue) == pytest.approx(20 * math.log10(255 / 24.966))


def test_ssim_hand_values() -> None:
    a = np.full((16, 16, 3), 50, np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    b = np.full((16, 16, 3), 150, np.uint8)
    # constant images: variances 0 -> SSIM = (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1)
    m1, m2 = rgb_to_y(a)[0, 0], rgb_to_y(b)[0, 0]
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * m1 * m2 + c1) / (m1**2 + m2**2 + c1), rel=1e-9)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    noisy = np.clip(x.astype(int) + rng.integers(-40, 41, x.shape), 0, 255).astype(np.uint8)
    assert 0 < ssim(x, noisy) < 1
    assert ssim(x, noisy) == pytest.approx(ssim(noisy, x))


def test_patch_psnr_and_shave() -> None:
    hr = np.zeros((8, 12, 3), np.uint8)
    sr = hr.copy()
    sr[0:4, 0:4] = 1  # patch (0, 0) MSE 1, others exact
    p = patch_psnr(sr, hr, (2, 3))
    assert p[0, 0] == pytest.approx(48.1308036, abs=1e-6)
    assert np.isinf(p[1:, :]).all() and np.isinf(p[0, 1:]).all()
    sr2 = hr + 1
    sr2[0, :] = 255  # a bad top border row: shaving 1 px per patch hides it
    assert patch_psnr_shaved(sr2, hr, (2, 3), 1) == pytest.approx(48.1308036, abs=1e-6)
    assert patch_psnr_shaved(sr2, hr, (2, 3), 0) < 40


def _ssim_brute_force(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 window by window: Gaussian 11x11 (sigma 1.5, or the image size if smaller), valid
    positions only, on BT.601 Y."""
    x, y = rgb_to_y(a), rgb_to_y(b)
    size = min(11, *x.shape)
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(x.shape[0] - size + 1):
        for j in range(x.shape[1] - size + 1):
            px, py = x[i : i + size, j : j + size], y[i : i + size, j : j + size]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cxy = (w * (px - mx) * (py - my)).sum()
            vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


@pytest.mark.parametrize("shape", [(24, 30), (13, 17), (11, 11), (8, 10), (9, 6)])
def test_ssim_matches_brute_force(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, b) == pytest.approx(_ssim_brute_force(a, b), abs=1e-12)
