"""Lightning training of one SR model on random LR/HR crops drawn from chosen patches of a video.

:class:`CropSampler` is an infinite iterable of ``(lr, hr)`` batches: each sample picks one allowed
patch ``(t, r, c)`` uniformly, then an LR crop of ``crop x crop`` pixels whose centre lies inside that
patch (the crop may extend into neighbouring patches for context and is clamped to the frame), and the
matching HR crop. :class:`SRModule` wraps a plain SR ``nn.Module`` with L1 (or L2) loss, Adam and cosine
decay over a fixed number of optimiser steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import IterableDataset


class CropSampler(IterableDataset):
    """Infinite batches of random crops from allowed patches.

    Args:
        lr: (T, 3, h, w) uint8 LR frames.
        hr: (T, 3, s*h, s*w) uint8 HR frames.
        items: (N, 3) int array of allowed patches (t, r, c).
        grid: (rows, cols) of the patch grid.
        crop: LR crop size in pixels (clipped to the frame size).
        batch_size: samples per batch.
        seed: seed of this sampler's random stream.
    Yields:
        ``(lr, hr)``: (B, 3, c, c) and (B, 3, s*c, s*c) float32 in [0, 1].
    """

    def __init__(
        self, lr: torch.Tensor, hr: torch.Tensor, items: np.ndarray, grid: tuple[int, int], crop: int, batch_size: int, seed: int
    ) -> None:
        super().__init__()
        if len(items) == 0:
            raise ValueError("no patches to train on")
        self.lr, self.hr, self.items = lr, hr, np.asarray(items, np.int64)
        self.scale = hr.shape[-1] // lr.shape[-1]
        h, w = lr.shape[-2:]
        self.ph, self.pw = h // grid[0], w // grid[1]
        self.ch, self.cw = min(crop, h), min(crop, w)
        self.batch_size, self.seed = batch_size, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng(self.seed)
        h, w = self.lr.shape[-2:]
        s = self.scale
        while True:
            pick = self.items[rng.integers(0, len(self.items), self.batch_size)]
            lrs, hrs = [], []
            for t, r, c in pick:
                cy = r * self.ph + rng.integers(0, self.ph)
                cx = c * self.pw + rng.integers(0, self.pw)
                y0 = int(np.clip(cy - self.ch // 2, 0, h - self.ch))
                x0 = int(np.clip(cx - self.cw // 2, 0, w - self.cw))
                lrs.append(self.lr[t, :, y0 : y0 + self.ch, x0 : x0 + self.cw])
                hrs.append(self.hr[t, :, s * y0 : s * (y0 + self.ch), s * x0 : s * (x0 + self.cw)])
            yield torch.stack(lrs).float().div_(255.0), torch.stack(hrs).float().div_(255.0)


class SRModule(pl.LightningModule):
    """Trains ``model`` ((B,3,h,w) -> (B,3,sh,sw)) with L1/L2 loss, Adam, cosine decay over ``steps``.

    Args:
        model: the plain SR network (its weights are trained in place).
        lr: Adam learning rate at step 0.
        steps: optimiser steps of this run (cosine period).
        min_lr_ratio: final learning rate = ``lr * min_lr_ratio``.
        loss: ``"l1"`` or ``"l2"``.
    """

    def __init__(self, model: nn.Module, lr: float = 1e-3, steps: int = 1000, min_lr_ratio: float = 0.01, loss: str = "l1") -> None:
        super().__init__()
        if loss not in ("l1", "l2"):
            raise ValueError(f"loss must be l1 or l2, got {loss!r}")
        self.model = model
        self.lr, self.steps, self.min_lr_ratio, self.loss_name = lr, max(1, steps), min_lr_ratio, loss

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        lr, hr = batch
        sr = self.model(lr)
        loss = nn.functional.l1_loss(sr, hr) if self.loss_name == "l1" else nn.functional.mse_loss(sr, hr)
        self.log("loss", loss, prog_bar=True, on_step=True, batch_size=lr.shape[0])
        return loss

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.steps, eta_min=self.lr * self.min_lr_ratio)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
