"""Per-method evaluation against hand-computed values: whole frames, per chunk, per frame, shaved patches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from videosr.report import evaluate_method

P1 = 10 * math.log10(255**2)  # PSNR of MSE 1


def test_evaluate_method_hand_values() -> None:
    hr = [np.zeros((8, 12, 3), np.uint8), np.full((8, 12, 3), 9, np.uint8)]
    sr = [f + 1 for f in hr]  # every pixel off by 1 (MSE 1) ...
    sr[0][0:4, 0:4] = 2  # ... except patch (0, 0) of frame 0, off by 2 (MSE 4)
    labels = np.array([[[0, 1, 1], [1, 1, 1]], [[0, 0, 0], [1, 1, 1]]], np.uint8)
    ev = evaluate_method(sr, hr, labels, (2, 3), 2, scale=2)
    p4 = 10 * math.log10(255**2 / 4)
    frame0 = 10 * math.log10(255**2 / ((16 * 4 + 80) / 96))
    assert ev["psnr_per_frame"] == pytest.approx([frame0, P1])
    assert ev["psnr_rgb"] == pytest.approx((frame0 + P1) / 2) and ev["psnr_y"] > ev["psnr_rgb"]
    # chunk 0 = patch (0,0) of frame 0 (MSE 4) + 3 patches of frame 1 (MSE 1): pooled MSE 7/4; chunk 1: MSE 1
    assert ev["psnr_per_chunk"] == pytest.approx([10 * math.log10(255**2 / (7 / 4)), P1])
    # 4x4 HR patches cannot lose 2 px a side and keep a meaningful centre: no shave, and it says so
    assert ev["psnr_patch_shave_px"] == 0
    assert ev["psnr_patch_shaved_ref"] == pytest.approx(((p4 + 5 * P1) / 6 + P1) / 2)
    identical = evaluate_method(hr, hr, labels, (2, 3), 2, scale=2)
    assert math.isinf(identical["psnr_rgb"]) and math.isinf(identical["psnr_y"]) and identical["ssim"] == pytest.approx(1.0)


def test_shaved_patch_psnr_shaves_scale_pixels() -> None:
    hr = [np.zeros((16, 24, 3), np.uint8)]
    sr = [hr[0] + 1]
    sr[0][::8, :] = 200  # first row of every 8x8 patch is bad: a 2 px shave hides it
    ev = evaluate_method(sr, hr, np.zeros((1, 2, 3), np.uint8), (2, 3), 1, scale=2)
    assert ev["psnr_patch_shave_px"] == 2 and ev["psnr_patch_shaved_ref"] == pytest.approx(P1)
    assert ev["psnr_rgb"] < 30
