"""BOP 2D detection / segmentation evaluation (COCO AP with the BOP visibility rule).

As the BOP toolkit does it: only images named in the targets file are evaluated; ground truth per image
comes from ``mask_visib`` and ``scene_gt_info``; a GT instance with ``visib_fract < 0.1`` is marked
ignore (a detection matched to it counts neither way; see :mod:`vision.bop.cocoeval`); ``bbox``
evaluation uses the amodal box ``bbox_obj`` by default. GT area (for the S/M/L ranges) is the number of
visible mask pixels; a GT instance without visible pixels is left out, as the toolkit's COCO ground truth
does. Detection area is the box area whenever the entry has a ``bbox`` -- for segm too, since
pycocotools' ``loadRes`` (which the toolkit calls) takes the bbox branch first -- else the mask area.
Areas only matter for the S/M/L ranges.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as cocomask

from vision.bop.cocoeval import EvalInstance, ImageEval, evaluate
from vision.bop.reader import BopDataset
from vision.common.errors import UserError
from vision.common.progress import track
from vision.masks import box_iou_matrix

VISIB_FRACT_IGNORE = 0.1


def build_image_evals(
    dataset: BopDataset,
    split: str,
    results: list[dict[str, Any]],
    images: list[tuple[int, int]],
    ann_type: str = "segm",
    bbox_type: str = "amodal",
    visib_threshold: float = VISIB_FRACT_IGNORE,
) -> tuple[list[ImageEval], dict[str, int]]:
    """Per-image GT/detections/IoU for the evaluator, plus counts (ignored GT, unused detections)."""
    if ann_type not in ("segm", "bbox"):
        raise UserError(f"ann-type must be 'segm' or 'bbox', got {ann_type!r}")
    by_image: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_image[(int(r["scene_id"]), int(r["image_id"]))].append(r)
    wanted = set(images)
    counts = {
        "gt_instances": 0,
        "gt_ignored": 0,
        "gt_not_visible": 0,
        "detections": 0,
        "detections_outside_targets": sum(len(v) for k, v in by_image.items() if k not in wanted),
    }
    evals: list[ImageEval] = []
    for scene_id, im_id in track(images, "evaluating images"):
        scene = dataset.require_gt(split, scene_id)
        if im_id not in scene.gt or im_id not in scene.gt_info:
            raise UserError(f"image {im_id} is in the targets but not in scene_gt/scene_gt_info", scene.path)
        gt_list, info_list = scene.gt[im_id], scene.gt_info[im_id]
        if len(gt_list) != len(info_list):
            raise UserError(f"image {im_id}: scene_gt and scene_gt_info have different lengths", scene.path)
        gts: list[EvalInstance] = []
        gt_masks, gt_boxes = [], []
        for gt_idx, (g, info) in enumerate(zip(gt_list, info_list, strict=True)):
            ignore = float(info.get("visib_fract", 1.0)) < visib_threshold
            if ann_type == "segm":
                m = dataset.visib_mask(split, scene_id, im_id, gt_idx)
                area = float(m.sum())
            else:
                area = float(info.get("px_count_visib", 0))
            if area < 1:  # not visible at all: the BOP toolkit's COCO GT has no such instance
                counts["gt_not_visible"] += 1
                continue
            if ann_type == "segm":
                gt_masks.append(m)
            else:
                gt_boxes.append(info["bbox_obj"] if bbox_type == "amodal" else info["bbox_visib"])
            gts.append(EvalInstance(category=int(g["obj_id"]), area=area, ignore=ignore))
            counts["gt_ignored"] += int(ignore)
        counts["gt_instances"] += len(gts)
        dets_raw = by_image.get((scene_id, im_id), [])
        counts["detections"] += len(dets_raw)
        dets: list[EvalInstance] = []
        if ann_type == "segm":
            for r in dets_raw:
                size = list(r["segmentation"]["size"])
                if gt_masks and size != list(gt_masks[0].shape):
                    raise UserError(f"scene {scene_id} image {im_id}: segmentation size {size} differs from the "
                                    f"image size {list(gt_masks[0].shape)}")
            det_rles = [r["segmentation"] for r in dets_raw]
            det_areas = cocomask.area(det_rles) if det_rles else []
            for r, area in zip(dets_raw, det_areas, strict=True):
                box = r.get("bbox")
                if box:  # pycocotools loadRes: box area whenever a bbox is present
                    area = box[2] * box[3]
                dets.append(EvalInstance(int(r["category_id"]), float(area), float(r["score"])))
            if det_rles and gt_masks:
                # RLE IoU in C (pycocotools); identical to mask_iou_matrix on the decoded masks, much faster
                gt_rles = cocomask.encode(np.asfortranarray(np.stack(gt_masks, axis=-1).astype(np.uint8)))
                ious = np.asarray(cocomask.iou(det_rles, gt_rles, [0] * len(gt_rles)), dtype=np.float64)
            else:
                ious = np.zeros((len(dets), len(gts)))
        else:
            boxes = [r["bbox"] for r in dets_raw]
            for r, b in zip(dets_raw, boxes, strict=True):
                dets.append(EvalInstance(int(r["category_id"]), float(b[2] * b[3]), float(r["score"])))
            ious = box_iou_matrix(np.array(boxes), np.array(gt_boxes)) if boxes and gt_boxes else np.zeros((len(dets), len(gts)))
        evals.append(ImageEval(gts=gts, dets=dets, ious=ious))
    return evals, counts


def evaluate_bop(
    dataset: BopDataset,
    split: str,
    results: list[dict[str, Any]],
    targets_path: Path | None = None,
    ann_type: str = "segm",
    bbox_type: str = "amodal",
) -> dict[str, Any]:
    """Evaluate ``results`` (validated entries) on the images of the targets file.

    Returns:
        scores dict: the COCO numbers (AP, AP50, AP75, AP_small/medium/large, AR1/10/100, AR_small/...),
        ``images``, ``ann_type``, counts of GT/ignored GT/detections, mean per-image ``time`` and the
        evaluation's own wall time.
    """
    start = time.perf_counter()
    images = dataset.target_images(split, targets_path)
    if not images:
        raise UserError("the targets file names no images")
    evals, counts = build_image_evals(dataset, split, results, images, ann_type, bbox_type)
    categories = sorted({g.category for e in evals for g in e.gts} | {d.category for e in evals for d in e.dets})
    scores = evaluate(evals, categories)
    image_set = set(images)
    times: dict[tuple[int, int], float] = {}
    for r in results:
        key = (int(r["scene_id"]), int(r["image_id"]))
        if key in image_set and "time" in r:
            times[key] = float(r["time"])
    known_times = [t for t in times.values() if t >= 0]
    return {
        **scores.stats,
        "images": len(images),
        "ann_type": ann_type,
        "bbox_type": bbox_type if ann_type == "bbox" else None,
        "categories": len(categories),
        **counts,
        "mean_time_per_image_s": float(np.mean(known_times)) if known_times else -1.0,
        "eval_seconds": time.perf_counter() - start,
    }
