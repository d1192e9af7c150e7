"""Typed configuration of the detection pipeline (YAML in ``configs/vision/``), and how CLI flags override it.

Resolution order: dataclass defaults < the command's own defaults < ``--config`` YAML < explicit flags.
The resolved config is saved beside every run's outputs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vision.common.config import config_to_dict, load_config
from vision.common.errors import UserError


@dataclass
class SegmenterConfig:
    """Which segmenter: ``auto`` = SAM when a checkpoint is given, else the classical one (with a warning)."""

    kind: Literal["auto", "sam", "classical"] = "auto"
    sam_model: Literal["vit_b", "vit_l", "vit_h"] | None = None
    sam_preset: str = "cpu"
    verify: bool = True


@dataclass
class DetectConfig:
    """Detector settings (see :class:`vision.detect.Detector` and :class:`vision.masks.MaskFilter`)."""

    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    min_area: int = 2500
    max_area_fraction: float = 0.5
    max_box_fraction: float = 0.95
    proposal_nms_iou: float | None = 0.8
    crop_pad: float = 0.1
    mode: Literal["centroid", "best_view"] = "centroid"
    score_threshold: float = 0.5
    nms_iou: float = 0.5
    max_instances: int = 10
    max_detections: int = 100
    top_k: int = 1  # gallery matches kept per proposal (1 = one label per segment, as CNOS)

    def __post_init__(self) -> None:
        if self.min_area < 0 or not 0 < self.max_area_fraction <= 1 or self.crop_pad < 0:
            raise ValueError("min_area >= 0, 0 < max_area_fraction <= 1 and crop_pad >= 0 are required")
        if self.max_instances < 1 or self.max_detections < 1 or self.top_k < 1:
            raise ValueError("max_instances, max_detections and top_k must be >= 1")
        if not 0 <= self.nms_iou <= 1 or not (self.proposal_nms_iou is None or 0 <= self.proposal_nms_iou <= 1):
            raise ValueError("nms_iou and proposal_nms_iou must be in [0, 1]")


# CLI flag name -> (section, field); section None = top level of DetectConfig
FLAGS: dict[str, tuple[str | None, str]] = {
    "segmenter": ("segmenter", "kind"),
    "sam_model": ("segmenter", "sam_model"),
    "sam_preset": ("segmenter", "sam_preset"),
    "min_area": (None, "min_area"),
    "mode": (None, "mode"),
    "score_threshold": (None, "score_threshold"),
    "nms_iou": (None, "nms_iou"),
    "max_instances": (None, "max_instances"),
    "top_k": (None, "top_k"),
}


def resolve_detect_config(args: argparse.Namespace, command_defaults: dict[str, Any] | None = None) -> DetectConfig:
    """The :class:`DetectConfig` for a CLI call: defaults, command defaults, ``args.config``, explicit flags."""
    cfg = load_config(args.config, DetectConfig) if getattr(args, "config", None) else None
    base = DetectConfig()
    if cfg is None:
        cfg = base
        for key, value in (command_defaults or {}).items():
            setattr(cfg, key, value)
    for flag, (section, name) in FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            setattr(cfg.segmenter if section else cfg, name, value)
    if getattr(args, "no_verify", False):
        cfg.segmenter.verify = False
    try:
        DetectConfig.__post_init__(cfg)
    except ValueError as err:  # a flag out of range: one line, like a bad YAML value
        raise UserError(f"invalid detector settings: {err}") from err
    from vision.sam import AMG_PRESETS

    if cfg.segmenter.sam_preset not in AMG_PRESETS:  # checked even when the classical segmenter runs
        raise UserError(f"unknown SAM preset {cfg.segmenter.sam_preset!r}; choose one of {', '.join(AMG_PRESETS)}")
    return cfg


def build_detector(cfg: DetectConfig, identifier: Any, sam_checkpoint: str | Path | None = None, device: str = "cpu") -> Any:
    """A :class:`vision.detect.Detector` from ``cfg`` (the segmenter per ``cfg.segmenter``)."""
    from vision.detect import Detector
    from vision.masks import MaskFilter
    from vision.pipeline import build_segmenter

    s = cfg.segmenter
    seg = build_segmenter(s.kind, sam_checkpoint, s.sam_model, s.sam_preset, verify=s.verify, device=device)
    mask_filter = MaskFilter(min_area=cfg.min_area, max_area_fraction=cfg.max_area_fraction,
                             max_box_fraction=cfg.max_box_fraction, nms_iou=cfg.proposal_nms_iou)
    return Detector(seg, identifier, mask_filter=mask_filter, crop_pad=cfg.crop_pad, score_threshold=cfg.score_threshold,
                    nms_iou=cfg.nms_iou, max_instances=cfg.max_instances, max_detections=cfg.max_detections, mode=cfg.mode,
                    top_k=cfg.top_k)


def detect_config_dict(cfg: DetectConfig) -> dict[str, Any]:
    """Plain-data form of ``cfg`` (for reports)."""
    return config_to_dict(cfg)


__all__ = ["DetectConfig", "SegmenterConfig", "build_detector", "resolve_detect_config", "detect_config_dict"]
