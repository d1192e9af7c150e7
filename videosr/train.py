"""Fit one SR model for a fixed number of steps with Lightning, resumable after an interruption.

Each fit has a ``tag`` (``single``, ``stdo_chunk0``, ...). With a work folder, Lightning keeps
``<work>/<tag>/last.ckpt`` every ``checkpoint_every`` steps; a rerun resumes from it (optimizer, scheduler
and step count restored; the crop sampler restarts its random stream). A finished fit leaves
``<work>/<tag>.done.pt`` (final weights) and ``<work>/<tag>.done.json`` (steps, seconds) so that a
rerun skips it.
"""

from __future__ import annotations

import json
import logging
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from videosr.config import TrainConfig
from videosr.lit import CropSampler, SRModule
from vision.common.progress import get_logger, progress_enabled

log = get_logger(__name__)


@dataclass
class TrainData:
    """Frames as uint8 tensors: ``lr`` (T, 3, h, w), ``hr`` (T, 3, s*h, s*w), and the patch ``grid``."""

    lr: torch.Tensor
    hr: torch.Tensor
    grid: tuple[int, int]

    @classmethod
    def from_frames(cls, lr: list[np.ndarray], hr: list[np.ndarray], grid: tuple[int, int]) -> TrainData:
        """Build from lists of (h, w, 3) uint8 frames."""
        def stack(frames: list[np.ndarray]) -> torch.Tensor:
            return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()

        return cls(lr=stack(lr), hr=stack(hr), grid=grid)

    def all_items(self, frames: np.ndarray | None = None) -> np.ndarray:
        """(N, 3) (t, r, c) of every patch of the given frames (default: all frames)."""
        ts = np.arange(self.lr.shape[0]) if frames is None else np.asarray(frames)
        rows, cols = self.grid
        t, r, c = np.meshgrid(ts, np.arange(rows), np.arange(cols), indexing="ij")
        return np.stack([t.ravel(), r.ravel(), c.ravel()], axis=1)


@dataclass
class FitResult:
    """Outcome of one fit: its optimiser steps and wall seconds, including the time of an interrupted run
    up to the checkpoint this one resumed from (``resumed_from`` = that checkpoint's step)."""

    steps: int
    seconds: float
    resumed_from: int = 0


class _StartStep(pl.Callback):
    """Records the global step at which training (re)started, and keeps the training seconds spent so far
    in every checkpoint (restored on resume as ``prior_seconds``)."""

    def __init__(self) -> None:
        self.step = 0
        self.prior_seconds = 0.0
        self._t0: float | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.step = int(trainer.global_step)
        self._t0 = time.perf_counter()

    def state_dict(self) -> dict[str, Any]:
        now = time.perf_counter() - self._t0 if self._t0 is not None else 0.0
        return {"seconds": self.prior_seconds + now}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.prior_seconds = float(state_dict.get("seconds", 0.0))


class StepProgressBar(pl.callbacks.RichProgressBar):
    """Lightning's rich bar naming the model being trained and counting optimiser steps of the fit.

    Training runs ``max_steps`` on an infinite sampler, so the stock bar's "Epoch 0/-2" says nothing;
    this one shows e.g. ``stdo chunk 1 ━━━━  120/400`` (steps from the start of the fit, also after a
    resume from a checkpoint).
    """

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label

    @property
    def total_train_batches(self) -> int | float:
        return self.trainer.max_steps

    def _get_train_description(self, current_epoch: int) -> str:
        return self.label

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, trainer.global_step - 1)


def fit(
    model: nn.Module,
    data: TrainData,
    items: np.ndarray,
    steps: int,
    learning_rate: float,
    cfg: TrainConfig,
    tag: str,
    seed: int,
    work_dir: Path | None = None,
    label: str | None = None,
) -> FitResult:
    """Train ``model`` in place for ``steps`` optimiser steps on crops around ``items`` patches.

    ``label`` names the fit on the progress bar (default ``tag``).
    """
    if work_dir is not None:
        done_pt, done_json = work_dir / f"{tag}.done.pt", work_dir / f"{tag}.done.json"
        if done_pt.is_file() and done_json.is_file():
            model.load_state_dict(torch.load(done_pt, map_location="cpu", weights_only=True))
            info = json.loads(done_json.read_text())
            log.info("%s: reusing finished training from %s", tag, done_pt)
            return FitResult(steps=int(info["steps"]), seconds=float(info["seconds"]))
    if steps <= 0:
        return FitResult(steps=0, seconds=0.0)
    module = SRModule(model, lr=learning_rate, steps=steps, min_lr_ratio=cfg.min_lr_ratio, loss=cfg.loss)
    sampler = CropSampler(data.lr, data.hr, items, data.grid, cfg.crop, cfg.batch_size, seed)
    loader = DataLoader(sampler, batch_size=None, num_workers=0)
    start_step = _StartStep()
    callbacks: list[pl.Callback] = [start_step]
    if progress_enabled():
        callbacks.append(StepProgressBar(label or tag))
    ckpt_path = None
    if work_dir is not None:
        ckdir = work_dir / tag
        callbacks.append(
            pl.callbacks.ModelCheckpoint(dirpath=ckdir, save_last=True, save_top_k=0, every_n_train_steps=max(1, cfg.checkpoint_every))
        )
        if (ckdir / "last.ckpt").is_file():
            ckpt_path = str(ckdir / "last.ckpt")
            log.info("%s: resuming from %s", tag, ckpt_path)
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    trainer = pl.Trainer(
        max_steps=steps,
        accelerator=cfg.accelerator,
        devices=1,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=work_dir is not None,
        enable_progress_bar=progress_enabled(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        deterministic=False,
    )
    start = time.perf_counter()
    sigint = signal.getsignal(signal.SIGINT)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*(num_workers|does not have many workers|IterableDataset).*")
        warnings.filterwarnings("ignore", message=".*`max_epochs` was not set.*")
        try:
            trainer.fit(module, loader, ckpt_path=ckpt_path)
        except SystemExit:
            # Lightning answers Ctrl+C with sys.exit(1) and leaves SIGINT ignored: give callers (the CLI's
            # exit 130 "interrupted", a later rerun that resumes) a KeyboardInterrupt and Ctrl+C back
            if not trainer.interrupted:
                raise
            if sigint is not None:
                signal.signal(signal.SIGINT, sigint)
            raise KeyboardInterrupt from None
    seconds = time.perf_counter() - start + start_step.prior_seconds
    model.cpu()
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, work_dir / f"{tag}.done.pt")
        (work_dir / f"{tag}.done.json").write_text(json.dumps({"steps": steps, "seconds": seconds}))
    return FitResult(steps=steps, seconds=seconds, resumed_from=start_step.step)
