"""Quickstart step: a short STDO run on a generated camera-like clip (about 30 s on 2 CPU cores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videosr.config import ModelConfig, RunConfig, TrainConfig


def quickstart_config(video: Path, seed: int) -> RunConfig:
    """A small run: 12 frames 256x144 at x4, 3x4 grid, 2 chunks, ESPCN 32/16, 500 M0 steps."""
    return RunConfig(
        video=str(video),
        scale=4,
        chunks=2,
        grid=[3, 4],
        model=ModelConfig(name="espcn", kwargs={"features": 32, "mid_features": 16}),
        train=TrainConfig(steps=500, batch_size=12, crop=24, checkpoint_every=100, threads=1, seed=seed),
        save_video=["stdo"],
    )


def step(workdir: Path, seed: int, context: dict[str, Path]) -> Any:
    """Generate a clip, run STDO with every baseline, and publish the run folder as ``videosr_run``."""
    import importlib

    from videosr.pipeline import run_stdo
    from videosr.synthetic import write_clip

    workdir.mkdir(parents=True, exist_ok=True)
    clip = write_clip(workdir / "clip.mp4", frames=12, height=144, width=256, seed=seed)
    run_dir = workdir / "videosr_run"
    report = run_stdo(quickstart_config(clip, seed), run_dir, overwrite=True)
    figures: dict[str, Any] = {f"psnr_{m}": round(r["psnr_rgb"], 2) for m, r in report["methods"].items()}
    if "stdo" in report["methods"] and "single_long" in report["methods"]:
        figures["stdo_minus_single_long_db"] = round(
            report["methods"]["stdo"]["psnr_rgb"] - report["methods"]["single_long"]["psnr_rgb"], 2
        )
    # looked up at run time: demos.quickstart imports every area's step, and a static import here would
    # make `mypy videosr` type-check all of them (the result type is demos.quickstart.StepResult)
    step_result = importlib.import_module("demos.quickstart").StepResult
    return step_result(
        name="videosr",
        figures=figures,
        outputs=[run_dir / "report.json", run_dir / "plots" / "psnr_per_frame.png", run_dir / "video" / "stdo.mp4"],
        artifacts={"videosr_run": run_dir},
    )
