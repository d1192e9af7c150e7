"""Unseen-object detection: segment everything, crop each segment, identify it against a gallery.

``Detector(segmenter, identifier).detect(rgb)``: proposals (SAM or classical) -> area/background filter
and mask NMS -> padded white-background crops -> embeddings -> cosine match to the gallery (centroid or
best view, optionally restricted to the wanted objects) -> score threshold -> per-object mask NMS and
a cap on instances per object -> :class:`Detection` list, with per-stage timings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vision.crops import crop_object
from vision.masks import MaskFilter, mask_nms, rle_encode
from vision.proposals import Proposal, Segmenter

STAGES = ("segmentation", "filter", "crops", "embedding", "matching", "postprocess")


@dataclass
class Detection:
    """One identified object.

    Attributes:
        obj_id: gallery product/object id.
        score: cosine similarity of the crop to the object in the gallery, in [-1, 1].
        bbox: (x, y, w, h) int pixel box of ``mask``.
        mask: (H, W) bool.
    """

    obj_id: str
    score: float
    bbox: tuple[int, int, int, int]
    mask: np.ndarray

    def to_json(self) -> dict[str, Any]:
        """JSON form: ``{obj_id, score, bbox, segmentation (COCO RLE)}``."""
        return {"obj_id": self.obj_id, "score": round(float(self.score), 6), "bbox": [int(v) for v in self.bbox],
                "segmentation": rle_encode(self.mask)}


@dataclass
class DetectionResult:
    """Detections of one image, the number of proposals, and milliseconds per stage.

    ``timings_ms`` has the keys of :data:`STAGES` plus ``total`` (and ``sam_encoder``/``mask_generation``
    when the segmenter reports them); ``dropped`` counts proposals removed by the filter.
    """

    detections: list[Detection]
    timings_ms: dict[str, float]
    proposals: int
    kept_proposals: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


class Detector:
    """Segment -> identify pipeline (parts passed in).

    Args:
        segmenter: anything with ``segment(rgb, depth) -> list[Proposal]``.
        identifier: ``identification.identifier.Identifier`` (needs ``.embedder.embed`` and ``.gallery.search``).
        mask_filter: proposal filter (default :class:`MaskFilter` with the paper's 50x50 px minimum).
        crop_pad: crop margin as a fraction of the object's longer side.
        score_threshold: minimum cosine similarity for a detection.
        nms_iou: per-object mask NMS threshold.
        max_instances: default cap of detections per object per image.
        max_detections: cap of detections per image (highest scores kept).
        mode: ``"centroid"`` or ``"best_view"`` (default: the identifier's mode).
        top_k: gallery matches kept per proposal (>1 lets one segment vote for several objects).
    """

    def __init__(
        self,
        segmenter: Segmenter,
        identifier: Any,
        mask_filter: MaskFilter | None = None,
        crop_pad: float = 0.1,
        score_threshold: float = 0.5,
        nms_iou: float = 0.5,
        max_instances: int = 10,
        max_detections: int = 100,
        mode: str | None = None,
        top_k: int = 1,
    ) -> None:
        self.segmenter = segmenter
        self.identifier = identifier
        self.mask_filter = mask_filter if mask_filter is not None else MaskFilter()
        self.crop_pad = crop_pad
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_instances = max_instances
        self.max_detections = max_detections
        self.mode = mode or getattr(identifier, "mode", "centroid")
        self.top_k = top_k

    def detect(
        self,
        rgb: np.ndarray,
        depth: np.ndarray | None = None,
        targets: Sequence[str] | None = None,
        max_instances: dict[str, int] | None = None,
    ) -> DetectionResult:
        """Detect gallery objects in ``rgb``.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            depth: (H, W) float32 mm or None (used by depth-aware segmenters).
            targets: restrict identification to these object ids (None = whole gallery).
            max_instances: per-object caps (e.g. BOP ``inst_count``); others use the default cap.

        Returns:
            :class:`DetectionResult`; zero proposals give zero detections (not an error).
        """
        timings = dict.fromkeys(STAGES, 0.0)
        t_start = t0 = time.perf_counter()
        proposals: list[Proposal] = self.segmenter.segment(rgb, depth)
        timings["segmentation"] = 1000 * (time.perf_counter() - t0)
        for key, value in getattr(self.segmenter, "last_timings_ms", {}).items():
            timings[key] = float(value)
        t0 = time.perf_counter()
        kept, dropped = self.mask_filter(proposals)
        timings["filter"] = 1000 * (time.perf_counter() - t0)
        detections: list[Detection] = []
        if kept:
            t0 = time.perf_counter()
            crops = [crop_object(rgb, p.mask, pad=self.crop_pad) for p in kept]
            timings["crops"] = 1000 * (time.perf_counter() - t0)
            t0 = time.perf_counter()
            emb = self.identifier.embedder.embed(crops)
            timings["embedding"] = 1000 * (time.perf_counter() - t0)
            t0 = time.perf_counter()
            cands = None if targets is None else [str(t) for t in targets]
            for p, e in zip(kept, emb, strict=True):
                for obj_id, score in self.identifier.gallery.search(e[None], k=self.top_k, mode=self.mode, candidates=cands):
                    if score >= self.score_threshold:
                        detections.append(Detection(obj_id, float(score), p.bbox, p.mask))
            timings["matching"] = 1000 * (time.perf_counter() - t0)
            t0 = time.perf_counter()
            detections = self._postprocess(detections, max_instances or {})
            timings["postprocess"] = 1000 * (time.perf_counter() - t0)
        timings["total"] = 1000 * (time.perf_counter() - t_start)
        return DetectionResult(detections, timings, proposals=len(proposals), kept_proposals=len(kept), dropped=dropped)

    def _postprocess(self, detections: list[Detection], caps: dict[str, int]) -> list[Detection]:
        """Per-object mask NMS, per-object instance caps, global cap; sorted by score."""
        by_obj: dict[str, list[Detection]] = {}
        for d in detections:
            by_obj.setdefault(d.obj_id, []).append(d)
        out: list[Detection] = []
        for obj_id, dets in by_obj.items():
            keep = mask_nms([d.mask for d in dets], [d.score for d in dets], self.nms_iou)
            cap = int(caps.get(obj_id, self.max_instances))
            out.extend(dets[i] for i in keep[:cap])
        out.sort(key=lambda d: -d.score)
        return out[: self.max_detections]
