"""The STDO run folder: what ``edgevision videosr run`` writes and the client side needs to replay it.

Layout (contract with the export helper)::

    RUN/report.json          metrics and run facts (see videosr.report)
    RUN/config.yaml          resolved config of the run
    RUN/lr/000000.png ...    LR frames exactly as the models saw them (lossless RGB PNG)
    RUN/hr/000000.png ...    HR reference frames, kept only when frames * HR pixels is small
                             (``RunConfig.keep_hr_max_pixels``); absent otherwise
    RUN/labels.bin           bit-packed chunk label map (videosr.metadata)
    RUN/plots/*.png          PSNR per frame, chunk-label heat map
    RUN/models/models.json   {"arch", "scale", "arch_kwargs", "grid", "chunks", "methods": {name: [files]}}
    RUN/models/*.pt          state dicts (torch.save of plain tensors; load with weights_only=True)

Method names: ``single`` (M0), ``single_long``, ``temporal`` (one file per segment), ``stdo`` (one per
chunk, index = chunk label), ``stdo_joint``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from videosr.models import build_sr
from vision.common.atomic import write_json_atomic
from vision.common.errors import UserError, read_json, require_dir, require_file

REPORT = "report.json"
CONFIG = "config.yaml"
LR_DIR = "lr"
HR_DIR = "hr"
LABELS = "labels.bin"
PLOTS_DIR = "plots"
MODELS_DIR = "models"
MODELS_JSON = "models.json"


@dataclass
class SRRun:
    """A loaded run folder (paths are absolute or relative as given to :func:`load_run`)."""

    root: Path
    scale: int
    grid: tuple[int, int]
    chunks: int
    arch: str
    arch_kwargs: dict[str, Any]
    methods: dict[str, list[Path]]
    lr_dir: Path
    hr_dir: Path | None
    label_map_path: Path
    report: dict[str, Any] = field(default_factory=dict)

    def lr_frames(self) -> list[Path]:
        """Sorted LR frame files ``lr/000000.png ...``."""
        return sorted(self.lr_dir.glob("*.png"))

    def hr_frames(self) -> list[Path]:
        """Sorted HR frame files, or [] when the run kept no HR frames."""
        return sorted(self.hr_dir.glob("*.png")) if self.hr_dir is not None else []


def frame_name(index: int) -> str:
    """File name of frame ``index``: ``000000.png``."""
    return f"{index:06d}.png"


def save_models(
    models_dir: Path,
    arch: str,
    scale: int,
    arch_kwargs: dict[str, Any],
    grid: tuple[int, int],
    chunks: int,
    methods: dict[str, list[nn.Module]],
) -> dict[str, list[str]]:
    """Write each model's state dict as ``<method>.pt`` / ``<method>_<i>.pt`` plus models.json.

    ``stdo`` files are named ``stdo_chunk<i>.pt``; returns the method -> file names mapping.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    names: dict[str, list[str]] = {}
    for method, models in methods.items():
        files = []
        for i, model in enumerate(models):
            if method == "stdo":
                fname = f"stdo_chunk{i}.pt"
            elif len(models) == 1 and method != "temporal":
                fname = f"{method}.pt"
            else:
                fname = f"{method}_{i}.pt"
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            torch.save(state, models_dir / fname)
            files.append(fname)
        names[method] = files
    meta = {
        "arch": arch,
        "scale": int(scale),
        "arch_kwargs": dict(arch_kwargs),
        "grid": [int(grid[0]), int(grid[1])],
        "chunks": int(chunks),
        "methods": names,
    }
    write_json_atomic(models_dir / MODELS_JSON, meta)
    return names


def load_run(path: str | os.PathLike[str]) -> SRRun:
    """Read a run folder's models.json and report; missing pieces raise :class:`UserError`."""
    root = require_dir(path, "run folder")
    meta_path = root / MODELS_DIR / MODELS_JSON
    meta = read_json(meta_path, "models.json of the run folder")
    for key in ("arch", "scale", "arch_kwargs", "grid", "chunks", "methods"):
        if key not in meta:
            raise UserError(f"missing key '{key}'", meta_path)
    lr_dir = require_dir(root / LR_DIR, "LR frames folder of the run")
    label_map = require_file(root / LABELS, "label map of the run")
    report: dict[str, Any] = {}
    if (root / REPORT).is_file():
        report = read_json(root / REPORT, "report of the run")
    hr_dir = root / HR_DIR
    methods = {m: [root / MODELS_DIR / f for f in files] for m, files in meta["methods"].items()}
    return SRRun(
        root=root,
        scale=int(meta["scale"]),
        grid=(int(meta["grid"][0]), int(meta["grid"][1])),
        chunks=int(meta["chunks"]),
        arch=str(meta["arch"]),
        arch_kwargs=dict(meta["arch_kwargs"]),
        methods=methods,
        lr_dir=lr_dir,
        hr_dir=hr_dir if hr_dir.is_dir() else None,
        label_map_path=label_map,
        report=report,
    )


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a state dict saved by :func:`save_models` (``weights_only=True``)."""
    require_file(path, "model weights")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt or foreign file
        raise UserError(f"cannot load model weights: {type(err).__name__}: {err}", path) from err


def load_sr_model(run: SRRun, method: str, index: int = 0) -> nn.Module:
    """Build ``run.arch`` and load the weights of ``method``'s model ``index``; returned in eval mode."""
    if method not in run.methods:
        known = ", ".join(sorted(run.methods))
        raise UserError(f"run has no method '{method}' (has: {known})", run.root / MODELS_DIR / MODELS_JSON)
    files = run.methods[method]
    if not 0 <= index < len(files):
        raise UserError(f"method '{method}' has {len(files)} model(s); index {index} is out of range", run.root)
    model = build_sr(run.arch, run.scale, **run.arch_kwargs)
    state = load_state_dict(files[index])
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise UserError(f"weights do not match {run.arch} {run.arch_kwargs}: {err}", files[index]) from err
    return model.eval()
