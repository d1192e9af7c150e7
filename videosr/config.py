"""Typed configuration of an STDO run (``configs/videosr/*.yaml``; defaults = the CPU-sized recipe).

The YAML files mirror these dataclasses; unknown keys are rejected by ``vision.common.config``. CLI flags
of ``edgevision videosr run`` override single fields. The resolved config is saved as ``config.yaml``
in every run folder.

Budget semantics (``train.budget``), with N = ``train.steps`` and k = ``chunks``:

- ``equal``: M0 (method ``single``) trains N steps from scratch. Every method initialised from M0 then
  gets N more optimiser steps in total: ``stdo`` N/k per chunk model, ``temporal`` N/k per segment
  model, ``stdo_joint`` N, and the control ``single_long`` continues M0 for N steps on all frames. This
  separates the gain of chunking from the gain of simply training longer. N/k is split exactly (the
  first N mod k models get one step more), and over the segments actually made when there are fewer
  frames than k.
- ``per_model``: every model initialised from M0 gets N more steps (the papers' way: k chunk models
  cost k times the training of one).

Joint STDO model (``train.joint_fractions``): the fraction of each chunk's patches the single joint model
trains on, chunk 0 (hardest) first. ``null`` means a linear ramp ``1 - i/(k-1)``: all of the hardest
chunk, none of the easiest, shrinking fractions of the middle ones (k=2: [1, 0]; k=3: [1, .5, 0];
k=4: [1, .67, .33, 0]). The paper does not publish its fractions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

METHODS = ("bicubic", "single", "single_long", "temporal", "stdo", "stdo_joint")


@dataclass
class ModelConfig:
    """SR architecture: ``name`` for ``videosr.models.build_sr`` and its width/depth ``kwargs``."""

    name: Literal["espcn", "edsr", "wdsr"] = "espcn"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Optimisation recipe shared by every trained method."""

    steps: int = 400
    budget: Literal["equal", "per_model"] = "equal"
    batch_size: int = 16
    crop: int = 24
    lr: float = 1e-3
    finetune_lr: float = 5e-4
    min_lr_ratio: float = 0.01
    loss: Literal["l1", "l2"] = "l1"
    stdo_init: Literal["m0", "scratch"] = "m0"
    joint_fractions: list[float] | None = None
    checkpoint_every: int = 100
    accelerator: str = "cpu"
    threads: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.crop < 4:
            raise ValueError("steps and batch_size must be >= 1 and crop >= 4")
        if self.joint_fractions is not None and any(not 0.0 <= f <= 1.0 for f in self.joint_fractions):
            raise ValueError("joint_fractions must lie in [0, 1]")


@dataclass
class RunConfig:
    """Everything ``edgevision videosr run`` needs besides the output folder."""

    video: str = ""
    lr_video: str | None = None
    lr_crf: int | None = None
    start: int = 0
    frames: int | None = None
    scale: int = 4
    chunks: int = 2
    grid: list[int] | None = None  # None with patch None: auto grid (videosr.patches.auto_grid)
    patch: int | None = None
    general_model: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    save_frames: list[str] = field(default_factory=list)
    save_video: list[str] = field(default_factory=lambda: ["stdo"])
    keep_hr_max_pixels: int = 60_000_000
    eval_batch: int = 4

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale}")
        if self.grid is not None and len(self.grid) != 2:
            raise ValueError("grid must be [rows, cols]")
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(f"unknown methods {unknown}; known: {list(METHODS)}")
        for name in ("save_frames", "save_video"):
            bad = sorted(set(getattr(self, name)) - set(METHODS))
            if bad:
                raise ValueError(f"{name}: unknown methods {bad}")


def joint_fractions(k: int, fractions: list[float] | None) -> list[float]:
    """Per-chunk fractions of patches kept for the joint model (chunk 0 hardest first)."""
    if fractions is not None:
        if len(fractions) != k:
            raise ValueError(f"joint_fractions has {len(fractions)} values for {k} chunks")
        return list(fractions)
    if k == 1:
        return [1.0]
    return [1.0 - i / (k - 1) for i in range(k)]
