"""STDO end to end: video -> LR -> M0 -> patch labels -> chunks -> per-method training -> evaluation.

:func:`run_stdo` builds the whole run folder (layout in ``videosr.run_folder``) inside
``vision.common.atomic.atomic_dir``: a failure leaves nothing behind, an existing folder is refused
without ``overwrite``. Training checkpoints live in a work folder beside the output
(``.<name>.work``) so that a rerun of the same command resumes; it is removed after success.

Methods (see ``videosr.config`` for the step budgets):

- ``bicubic``: MATLAB-like bicubic upscale of the LR frames.
- ``single`` (M0): one model overfit on all frames; also the general model that labels patches.
- ``single_long``: control, M0 trained further on all frames.
- ``temporal``: one model per k consecutive segments of frames (NAS/CaFM-style delivery), from M0.
- ``stdo``: one model per difficulty chunk, from M0 (or scratch), patches stitched by label.
- ``stdo_joint``: one model on all of the hardest chunk, fractions of the middle ones.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from videosr import run_folder as rf
from videosr.chunking import chunk_thresholds, quantile_chunks
from videosr.config import METHODS, RunConfig, joint_fractions
from videosr.io import VideoPair, imresize, load_pair
from videosr.labels import patch_difficulty
from videosr.metadata import write_label_map
from videosr.models import build_sr, count_macs, count_params
from videosr.patches import resolve_grid
from videosr.reconstruct import reconstruct, upscale
from videosr.report import evaluate_method, write_plots
from videosr.train import TrainData, fit
from vision.common.atomic import atomic_dir, check_can_write, write_json_atomic
from vision.common.config import config_to_dict, save_config
from vision.common.errors import UserError
from vision.common.progress import get_logger, track
from vision.common.runinfo import machine_info, seed_everything

log = get_logger(__name__)


@dataclass
class MethodResult:
    """Trained models of one method, its per-frame labels (model index per patch) and its cost."""

    models: list[nn.Module]
    labels: np.ndarray  # (T, rows, cols) index into models
    steps: int  # optimiser steps counted from scratch (including M0's)
    train_seconds: float
    steps_per_model: list[int] = field(default_factory=list)


def _segments(frames: int, k: int) -> list[np.ndarray]:
    """k consecutive, near-equal frame segments (fewer when there are fewer frames than k)."""
    return [s for s in np.array_split(np.arange(frames), min(k, frames)) if len(s)]


def split_steps(total: int, parts: int) -> list[int]:
    """``total`` optimiser steps shared by ``parts`` models: near-equal, summing exactly to ``total``
    (the first ``total % parts`` models get one step more)."""
    base, rest = divmod(total, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


def _load_general_model(path: str, arch: str, scale: int, kwargs: dict[str, Any]) -> nn.Module:
    model = build_sr(arch, scale, **kwargs)
    state = rf.load_state_dict(Path(path))
    if "state_dict" in state and isinstance(state["state_dict"], dict):  # a Lightning checkpoint
        state = {k.removeprefix("model."): v for k, v in state["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise UserError(f"general model does not match {arch} {kwargs}: {err}", path) from err
    return model


def train_methods(
    cfg: RunConfig, pair: VideoPair, grid: tuple[int, int], work_dir: Path | None, label_model: nn.Module | None = None
) -> tuple[dict[str, MethodResult], np.ndarray, np.ndarray]:
    """Train every configured method; returns (results by method, patch PSNR of M0, chunk labels).

    ``label_model`` labels the patches instead of M0 (default: loaded from ``cfg.general_model`` if set).
    """
    tc = cfg.train
    n, k = tc.steps, cfg.chunks
    data = TrainData.from_frames(pair.lr, pair.hr, grid)
    t_frames = len(pair.lr)
    shape = (t_frames, grid[0], grid[1])
    results: dict[str, MethodResult] = {}
    seed_everything(tc.seed)

    def new_model() -> nn.Module:
        return build_sr(cfg.model.name, cfg.scale, **cfg.model.kwargs)

    # M0: the general model
    m0 = new_model()
    if label_model is None and cfg.general_model:
        label_model = _load_general_model(cfg.general_model, cfg.model.name, cfg.scale, cfg.model.kwargs)
    r = fit(m0, data, data.all_items(), n, tc.lr, tc, "single", tc.seed, work_dir, label="M0 (single)")
    results["single"] = MethodResult([m0], np.zeros(shape, np.uint8), n, r.seconds, [n])

    difficulty = patch_difficulty(label_model or m0, pair.lr, pair.hr, grid, cfg.eval_batch)
    labels = quantile_chunks(difficulty, k)

    def budget(parts: int) -> list[int]:
        """Extra steps of each of ``parts`` models started from M0 (N in total, or N each)."""
        return split_steps(n, parts) if tc.budget == "equal" else [n] * parts

    def from_m0() -> nn.Module:
        return copy.deepcopy(m0) if tc.stdo_init == "m0" else new_model()

    base_steps = n if tc.stdo_init == "m0" else 0
    wanted = set(cfg.methods)
    if "single_long" in wanted:
        model = copy.deepcopy(m0)
        r = fit(model, data, data.all_items(), n, tc.finetune_lr, tc, "single_long", tc.seed + 1, work_dir, label="single_long")
        results["single_long"] = MethodResult([model], np.zeros(shape, np.uint8), 2 * n, r.seconds, [2 * n])
    if "temporal" in wanted:
        models, secs, tlabels = [], 0.0, np.zeros(shape, np.uint8)
        segments = _segments(t_frames, k)
        seg_steps = budget(len(segments))
        for i, (seg, extra) in enumerate(zip(segments, seg_steps, strict=True)):
            model = copy.deepcopy(m0)
            r = fit(model, data, data.all_items(seg), extra, tc.finetune_lr, tc, f"temporal_{i}", tc.seed + 10 + i, work_dir,
                    label=f"temporal segment {i}")
            models.append(model)
            secs += r.seconds
            tlabels[seg] = i
        results["temporal"] = MethodResult(models, tlabels, n + sum(seg_steps), secs, [n + e for e in seg_steps])
    if "stdo" in wanted:
        models, secs = [], 0.0
        chunk_steps = budget(k)
        for c, extra in enumerate(chunk_steps):
            model = from_m0()
            items = np.argwhere(labels == c)
            lr_rate = tc.finetune_lr if tc.stdo_init == "m0" else tc.lr
            r = fit(model, data, items, extra, lr_rate, tc, f"stdo_chunk{c}", tc.seed + 100 + c, work_dir, label=f"stdo chunk {c}")
            models.append(model)
            secs += r.seconds
        # M0's N steps always count: its labels define the chunks even when chunk models start from scratch
        results["stdo"] = MethodResult(models, labels.copy(), n + sum(chunk_steps), secs, [base_steps + e for e in chunk_steps])
    if "stdo_joint" in wanted:
        fracs = joint_fractions(k, tc.joint_fractions)
        rng = np.random.default_rng(tc.seed + 1000)
        parts = []
        for c, f in enumerate(fracs):
            items = np.argwhere(labels == c)
            keep = int(round(f * len(items)))
            if keep:
                parts.append(items[rng.choice(len(items), keep, replace=False)])
        items = np.concatenate(parts) if parts else np.argwhere(labels == 0)
        model = copy.deepcopy(m0)
        r = fit(model, data, items, n, tc.finetune_lr, tc, "stdo_joint", tc.seed + 2000, work_dir, label="stdo_joint")
        results["stdo_joint"] = MethodResult([model], np.zeros(shape, np.uint8), 2 * n, r.seconds, [2 * n])
    if "single" not in wanted:
        results.pop("single")
    return results, difficulty, labels


def _check_model(cfg: RunConfig) -> None:
    """Build the configured model and run it once on a tiny input: bad options (e.g. zero width) are a
    :class:`UserError` now instead of a traceback in the middle of training."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's zero-element init warning before the one-line error
            build_sr(cfg.model.name, cfg.scale, **cfg.model.kwargs)(torch.zeros(1, 3, 8, 8))
    except (TypeError, ValueError, RuntimeError) as err:
        raise UserError(f"bad model options {cfg.model.kwargs} for {cfg.model.name}: {err}") from err


def _method_frames(method: str, res: MethodResult | None, pair: VideoPair, grid: tuple[int, int], batch: int) -> list[np.ndarray]:
    if method == "bicubic":
        h, w = pair.hr[0].shape[:2]
        return [imresize(f, h, w) for f in pair.lr]
    assert res is not None
    if len(res.models) == 1:
        return upscale(res.models[0], pair.lr, batch)
    return reconstruct(res.models, res.labels, pair.lr, grid, batch)


def run_stdo(cfg: RunConfig, out: str | os.PathLike[str], overwrite: bool = False) -> dict[str, Any]:
    """Run the whole STDO experiment described by ``cfg`` and write the run folder ``out``.

    Returns the report dict (also written to ``out/report.json``).
    """
    out = Path(out)
    check_can_write(out, overwrite)
    threads_before = torch.get_num_threads()
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    try:
        return _run(cfg, out, overwrite)
    finally:
        torch.set_num_threads(threads_before)


def _run(cfg: RunConfig, out: Path, overwrite: bool) -> dict[str, Any]:
    started = time.perf_counter()
    _check_model(cfg)
    not_run = [m for m in cfg.save_frames if m not in cfg.methods]
    if not_run:
        raise UserError(f"--save-frames {','.join(not_run)}: not among the methods run ({','.join(cfg.methods)})")
    probe_grid = tuple(cfg.grid) if cfg.grid is not None else None
    pair = load_pair(cfg.video, cfg.scale, cfg.start, cfg.frames, lr_video=cfg.lr_video, lr_crf=cfg.lr_crf)
    h, w = pair.hr[0].shape[:2]
    lr_h, lr_w = pair.lr[0].shape[:2]
    grid = resolve_grid((lr_h, lr_w), probe_grid, cfg.patch, cfg.video)  # type: ignore[arg-type]
    if cfg.chunks > len(pair.lr) * grid[0] * grid[1]:
        raise UserError(f"--chunks {cfg.chunks} is larger than the number of patches ({len(pair.lr) * grid[0] * grid[1]})")
    if cfg.chunks < 1:
        raise UserError(f"--chunks must be >= 1, got {cfg.chunks}")
    # everything that can be checked before training is checked before the work folder exists
    if cfg.chunks > 256:
        raise UserError(f"--chunks must be <= 256, got {cfg.chunks}")
    if "stdo_joint" in cfg.methods:
        try:
            joint_fractions(cfg.chunks, cfg.train.joint_fractions)
        except ValueError as err:
            raise UserError(f"train.{err}") from err
    label_model = None
    if cfg.general_model:
        label_model = _load_general_model(cfg.general_model, cfg.model.name, cfg.scale, cfg.model.kwargs)
    work_dir = out.parent / f".{out.name}.work"
    _check_work_dir(work_dir, cfg)
    results, difficulty, labels = train_methods(cfg, pair, grid, work_dir, label_model)

    with atomic_dir(out, overwrite) as tmp:
        save_config(cfg, tmp / rf.CONFIG)
        (tmp / rf.LR_DIR).mkdir()
        import cv2

        for i, f in enumerate(pair.lr):
            cv2.imwrite(str(tmp / rf.LR_DIR / rf.frame_name(i)), f[..., ::-1])
        if len(pair.hr) * h * w <= cfg.keep_hr_max_pixels:
            (tmp / rf.HR_DIR).mkdir()
            for i, f in enumerate(pair.hr):
                cv2.imwrite(str(tmp / rf.HR_DIR / rf.frame_name(i)), f[..., ::-1])
        bits = write_label_map(tmp / rf.LABELS, labels, cfg.chunks)
        first = next(iter(results.values())).models[0] if results else build_sr(cfg.model.name, cfg.scale, **cfg.model.kwargs)
        model_kwargs = cast(dict[str, Any], first.arch_kwargs)
        rf.save_models(tmp / rf.MODELS_DIR, cfg.model.name, cfg.scale, model_kwargs, grid, cfg.chunks, {m: r.models for m, r in results.items()})

        methods_report: dict[str, Any] = {}
        per_frame: dict[str, list[float]] = {}
        to_eval = [m for m in METHODS if m in results or (m == "bicubic" and m in cfg.methods)]
        for method in track(to_eval, "evaluating methods"):
            res = results.get(method)
            frames = _method_frames(method, res, pair, grid, cfg.eval_batch)
            ev = evaluate_method(frames, pair.hr, labels, grid, cfg.chunks, cfg.scale)
            params = sum(count_params(m) for m in res.models) if res else 0
            macs = count_macs(res.models[0], (lr_h, lr_w)) if res else 0
            methods_report[method] = {
                "psnr_rgb": ev["psnr_rgb"],
                "psnr_y": ev["psnr_y"],
                "ssim": ev["ssim"],
                "steps": res.steps if res else 0,
                "train_seconds": round(res.train_seconds, 2) if res else 0.0,
                "params": params,
                "models": len(res.models) if res else 0,
                "steps_per_model": res.steps_per_model if res else [],
                "macs_per_frame": macs * (len(res.models) if method in ("stdo",) else 1) if res else 0,
                "psnr_patch_shaved_ref": ev["psnr_patch_shaved_ref"],
                "psnr_patch_shave_px": ev["psnr_patch_shave_px"],
                "psnr_per_chunk": ev["psnr_per_chunk"],
                "psnr_per_frame": ev["psnr_per_frame"],
                "psnr_y_per_frame": ev["psnr_y_per_frame"],
            }
            per_frame[method] = ev["psnr_per_frame"]
            if method in cfg.save_frames:
                folder = tmp / "frames" / method
                folder.mkdir(parents=True)
                for i, f in enumerate(frames):
                    cv2.imwrite(str(folder / rf.frame_name(i)), f[..., ::-1])
            if method in cfg.save_video:
                from videosr.synthetic import encode_video

                (tmp / "video").mkdir(exist_ok=True)
                encode_video(tmp / "video" / f"{method}.mp4", np.stack(frames), fps=max(1, round(pair.fps)), crf=12)
        write_plots(tmp / rf.PLOTS_DIR, per_frame, labels, difficulty)
        report = {
            "video": str(cfg.video),
            "scale": cfg.scale,
            "frames": len(pair.hr),
            "hr_size": [h, w],
            "lr_size": [lr_h, lr_w],
            "grid": [grid[0], grid[1]],
            "chunks": cfg.chunks,
            "label_bits_per_frame": bits,
            "methods": methods_report,
            "corrupt_frames_skipped": pair.corrupt,
            "cropped_from": list(pair.cropped_from),
            "model": {"arch": cfg.model.name, "arch_kwargs": model_kwargs},
            "budget": cfg.train.budget,
            "steps_m0": cfg.train.steps,
            "chunk_stats": chunk_thresholds(difficulty, labels, cfg.chunks),
            "psnr_notes": "psnr_rgb/psnr_y/ssim: mean over frames of whole stitched frames, no border shave "
            "(ssim on BT.601 Y); psnr_patch_shaved_ref: mean per-patch RGB PSNR with psnr_patch_shave_px "
            "(= scale, or 0 for patches too small to shave) px shaved per patch, as the STDO reference code reports",
            "total_seconds": round(time.perf_counter() - started, 1),
            "machine": machine_info(),
        }
        write_json_atomic(tmp / rf.REPORT, report)
    shutil.rmtree(work_dir, ignore_errors=True)
    return report


# options that change what is written or how fast, not what is trained: a rerun that changes them resumes
_NOT_TRAINING = ("methods", "save_frames", "save_video", "keep_hr_max_pixels", "eval_batch")
_NOT_TRAINING_TRAIN = ("threads", "checkpoint_every")


def _training_key(cfg: RunConfig) -> str:
    """The config fields that determine the trained weights, as canonical JSON."""
    data = config_to_dict(cfg)
    for key in _NOT_TRAINING:
        data.pop(key, None)
    for key in _NOT_TRAINING_TRAIN:
        data["train"].pop(key, None)
    return json.dumps(data, sort_keys=True)


def _check_work_dir(work_dir: Path, cfg: RunConfig) -> None:
    """Keep an existing work folder only if it was made with the same training config (else start afresh).

    Each fit is keyed by its tag, so a rerun with other ``methods`` or output options reuses what it can.
    """
    marker = work_dir / "config.json"
    current = _training_key(cfg)
    if work_dir.is_dir():
        if marker.is_file() and marker.read_text() == current:
            log.info("resuming from checkpoints in %s", work_dir)
            return
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    marker.write_text(current)
