"""Quickstart step ``export``: the videosr run -> mobile SR bundle (FP32 + INT8) -> torch-free playback.

Uses ``context["videosr_run"]`` (the videosr step's run folder). Builds an ONNX bundle with INT8 models
(the INT8 tolerance is not enforced here: the PSNR drop is reported as a figure instead), plays the run's
LR frames back through :mod:`export.player` at both precisions, and compares the played frames with
the run's HR frames when it kept them. Core ML is skipped (conversion costs seconds per model and
cannot be checked on Linux); ``edgevision export sr --formats onnx,coreml`` does it.

Figures: ``player_fps`` (FP32, end to end), ``player_fps_int8``, ``psnr_played`` (dB vs HR),
``int8_psnr_drop_db`` (played FP32 minus played INT8 PSNR), ``max_abs_error`` (worst FP32 parity).
Artifact: ``sr_bundle``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import numpy as np

from vision.common.errors import UserError


def _mean_psnr(played_dir: Path, hr_files: list[Path]) -> float | None:
    """Mean per-frame RGB PSNR (dB) of the played PNG frames vs the run's HR frames."""
    import cv2

    from export.parity import psnr

    played = sorted(played_dir.glob("*.png"))
    if not hr_files or len(played) != len(hr_files):
        return None
    values = []
    for p, h in zip(played, hr_files, strict=True):
        a = cast(np.ndarray, cv2.imread(str(p), cv2.IMREAD_COLOR)).astype(np.float32) / 255.0
        b = cast(np.ndarray, cv2.imread(str(h), cv2.IMREAD_COLOR)).astype(np.float32) / 255.0
        if a.shape != b.shape:
            return None
        values.append(psnr(a, b))
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.inf


def step(workdir: Path, seed: int, context: dict[str, Path]) -> Any:
    """Build the SR bundle from the videosr run and play it back (see module docstring)."""
    from demos.quickstart import StepResult
    from export.bundle import SRBundleOptions, build_sr_bundle
    from export.player import play_bundle
    from videosr.run_folder import load_run

    if "videosr_run" not in context:
        raise UserError("the export step needs the videosr step's run folder (context['videosr_run'])")
    run = load_run(context["videosr_run"])
    workdir.mkdir(parents=True, exist_ok=True)
    method = "stdo" if "stdo" in run.methods else sorted(run.methods)[0]
    options = SRBundleOptions(
        methods=(method,),
        int8=True,
        calibration_tiles=8,
        validation_tiles=4,
        max_psnr_drop_db=math.inf,  # the step reports the INT8 cost, it does not gate on it
        min_int8_psnr_vs_fp32_db=-math.inf,
        seed=seed,
    )
    bundle = workdir / "sr_bundle"
    manifest = build_sr_bundle(run.root, bundle, options, overwrite=True)
    fp32 = play_bundle(bundle, run.lr_dir, workdir / "played_fp32.mp4", save_frames=workdir / "played_fp32", overwrite=True)
    int8 = play_bundle(
        bundle, run.lr_dir, workdir / "played_int8.mp4", save_frames=workdir / "played_int8", precision="int8", overwrite=True
    )
    hr_files = run.hr_frames()
    psnr_fp32 = _mean_psnr(workdir / "played_fp32", hr_files)
    psnr_int8 = _mean_psnr(workdir / "played_int8", hr_files)
    figures: dict[str, Any] = {
        "method": method,
        "models": len(manifest["models"]),
        "tile": "x".join(str(v) for v in manifest["tile"]),
        "max_abs_error": max(p["max_abs_error"] for p in manifest["parity"]),
        "player_fps": round(fp32["fps"], 2),
        "player_fps_int8": round(int8["fps"], 2),
        "psnr_played": None if psnr_fp32 is None else round(psnr_fp32, 2),
        "psnr_run_report": manifest["psnr"].get(method),
        "int8_psnr_drop_db": None if psnr_fp32 is None or psnr_int8 is None else round(psnr_fp32 - psnr_int8, 3),
    }
    return StepResult(
        name="export",
        figures=figures,
        outputs=[bundle, workdir / "played_fp32.mp4", workdir / "played_int8.mp4"],
        artifacts={"sr_bundle": bundle},
    )
