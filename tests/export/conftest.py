"""Fixtures: tiny SR models and a videosr run folder built with videosr's own writers (no training)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from videosr.metadata import write_label_map
from videosr.models import build_sr
from videosr.run_folder import save_models
from vision.common.atomic import write_json_atomic

SCALE = 2
LR_HW = (40, 56)
GRID = (2, 2)
FRAMES = 3


def tiny_espcn(seed: int) -> torch.nn.Module:
    """ESPCN x2 with 8/4 features; weights perturbed so every chunk model differs visibly."""
    torch.manual_seed(seed)
    model = build_sr("espcn", SCALE, features=8, mid_features=4)
    with torch.no_grad():
        model.to_subpixels.weight.normal_(0.0, 0.05)
        model.to_subpixels.bias.normal_(0.0, 0.01)
    return model.eval()


def smooth_frames(n: int, hw: tuple[int, int], seed: int) -> list[np.ndarray]:
    """Smooth random RGB uint8 frames (blurred noise + gradient), deterministic."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        noise = rng.random((hw[0] // 4 + 2, hw[1] // 4 + 2, 3)).astype(np.float32)
        img = cv2.resize(noise, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)
        frames.append(np.clip(img * 255, 0, 255).astype(np.uint8))
    return frames


def write_run(root: Path, chunks: int = 2, with_hr: bool = True) -> Path:
    """A videosr-format run folder: stdo chunk models, single, temporal, labels, LR (+HR) PNGs, report."""
    root.mkdir(parents=True)
    hr = smooth_frames(FRAMES, (LR_HW[0] * SCALE, LR_HW[1] * SCALE), 1)
    lr = [cv2.resize(f, (LR_HW[1], LR_HW[0]), interpolation=cv2.INTER_AREA) for f in hr]
    (root / "lr").mkdir()
    for i, f in enumerate(lr):
        cv2.imwrite(str(root / "lr" / f"{i:06d}.png"), f[..., ::-1])
    if with_hr:
        (root / "hr").mkdir()
        for i, f in enumerate(hr):
            cv2.imwrite(str(root / "hr" / f"{i:06d}.png"), f[..., ::-1])
    labels = (np.arange(FRAMES * GRID[0] * GRID[1]).reshape(FRAMES, *GRID) % chunks).astype(np.uint8)
    write_label_map(root / "labels.bin", labels, chunks)
    models = {
        "stdo": [tiny_espcn(10 + c) for c in range(chunks)],
        "single": [tiny_espcn(1)],
        "temporal": [tiny_espcn(20), tiny_espcn(21)],
    }
    first = models["single"][0]
    save_models(root / "models", "espcn", SCALE, first.arch_kwargs, GRID, chunks, models)
    write_json_atomic(root / "report.json", {"methods": {"stdo": {"psnr_rgb": 30.5}, "single": {"psnr_rgb": 29.0}}})
    return root


@pytest.fixture
def make_sr_run() -> Callable[..., Path]:
    """:func:`write_run` itself (for tests that need a run folder of another shape)."""
    return write_run


@pytest.fixture(scope="session")
def sr_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("videosr") / "run")


@pytest.fixture(scope="session")
def sr_bundle(sr_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle with stdo (fp32 + int8) and single, 16x24 tiles (several tiles per 40x56 frame)."""
    from export.bundle import SRBundleOptions, build_sr_bundle

    out = tmp_path_factory.mktemp("bundle") / "bundle"
    options = SRBundleOptions(methods=("stdo", "single", "temporal"), tile=(16, 24), int8=True, calibration_tiles=4, validation_tiles=2)
    build_sr_bundle(sr_run, out, options)
    return out
