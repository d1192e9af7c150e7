"""Detection on a BOP dataset: onboarding images -> object galleries, target images -> results file.

Onboarding (``static``: ``obj_<id>_up|_down``; ``dynamic``: ``obj_<id>``) images become masked crops
(white background) of each object; a view without a visible mask (dynamic onboarding usually has masks
for few frames) is segmented with the classical segmenter (largest proposal), and a view where that
finds nothing is skipped and counted. Object ids are BOP integers; in galleries they are strings.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from vision.bop.reader import BopDataset, read_image, read_mask
from vision.bop.results import make_result
from vision.classical import ClassicalSegmenter
from vision.common.errors import UserError
from vision.common.progress import get_logger, track
from vision.crops import crop_object

LOG = get_logger(__name__)


def onboarding_crops(
    dataset: BopDataset, kind: str, obj_id: int, pad: float = 0.1, fallback: ClassicalSegmenter | None = None
) -> tuple[list[np.ndarray], dict[str, int]]:
    """Masked crops of one object's onboarding images and counts (``views``, ``unmasked``, ``skipped``)."""
    fallback = fallback or ClassicalSegmenter()
    crops: list[np.ndarray] = []
    stats = {"views": 0, "unmasked": 0, "skipped": 0}
    for rgb_path, mask_path in dataset.onboarding_views(kind, obj_id):
        stats["views"] += 1
        try:
            rgb = read_image(rgb_path)
            if mask_path is not None:
                mask = read_mask(mask_path)
            else:
                stats["unmasked"] += 1
                props = fallback.segment(rgb)
                if not props:
                    stats["skipped"] += 1
                    continue
                mask = max(props, key=lambda p: int(p.mask.sum())).mask
        except UserError as err:
            LOG.warning("skipping onboarding view: %s", err.one_line())
            stats["skipped"] += 1
            continue
        if mask.shape != rgb.shape[:2] or not mask.any():
            stats["skipped"] += 1
            continue
        crops.append(crop_object(rgb, mask, pad=pad))
    return crops, stats


def build_identifier(dataset: BopDataset, kind: str, embedder: Any, mode: str = "centroid", pad: float = 0.1) -> tuple[Any, dict[str, Any]]:
    """An ``Identifier`` whose gallery holds every dataset object's onboarding crops.

    Args:
        embedder: ``identification.embed.ImageEmbedder``.

    Returns:
        (identifier, report) where report counts views, unmasked and skipped views, and objects without
        any usable view (they cannot be detected).
    """
    from identification.gallery import Gallery
    from identification.identifier import Identifier

    identifier = Identifier(embedder, Gallery(metadata={"source": f"BOP onboarding_{kind}"}), mode=mode)
    totals: dict[str, Any] = {"views": 0, "unmasked": 0, "skipped": 0, "objects": 0, "objects_without_views": []}
    for obj_id in track(dataset.object_ids(), f"building galleries from onboarding_{kind}"):
        crops, stats = onboarding_crops(dataset, kind, obj_id, pad)
        for k in ("views", "unmasked", "skipped"):
            totals[k] += stats[k]
        if not crops:
            totals["objects_without_views"].append(obj_id)
            continue
        identifier.add_product(str(obj_id), crops)
        totals["objects"] += 1
    if totals["objects"] == 0:
        raise UserError(f"no usable onboarding_{kind} images for any object", dataset.root)
    return identifier, totals


def run_inference(
    dataset: BopDataset,
    split: str,
    detector: Any,
    targets_path: Path | None = None,
    use_depth: bool = True,
    restrict_to_targets: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ``detector`` on every image of the targets file.

    Args:
        restrict_to_targets: identify only the objects the BOP'19 targets list for each image and cap
            instances at ``inst_count`` (the BOP'19 setting); off = all gallery objects.

    Returns:
        (results entries in BOP format with per-image ``time``, report with counts and mean stage timings).
    """
    entries = dataset.targets(split, targets_path)
    per_image: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for t in entries:
        key = (int(t["scene_id"]), int(t["im_id"]))
        per_image[key]
        if "obj_id" in t:
            per_image[key][int(t["obj_id"])] = int(t.get("inst_count", 1))
    results: list[dict[str, Any]] = []
    report: dict[str, Any] = {"images": 0, "skipped_images": 0, "zero_proposal_images": 0, "proposals": 0, "detections": 0}
    stage_sums: dict[str, float] = defaultdict(float)
    for scene_id, im_id in track(sorted(per_image), "detecting"):
        try:
            rgb = dataset.read_rgb(split, scene_id, im_id)
            depth = dataset.read_depth(split, scene_id, im_id) if use_depth else None
            if depth is not None and depth.shape != rgb.shape[:2]:
                raise UserError(f"depth of image {im_id} is {depth.shape}, the rgb image {rgb.shape[:2]}",
                                dataset.split_dir(split) / f"{scene_id:06d}" / "depth")
        except UserError as err:
            LOG.warning("skipping image: %s", err.one_line())
            report["skipped_images"] += 1
            continue
        objs = per_image[(scene_id, im_id)]
        targets = [str(o) for o in objs] if restrict_to_targets and objs else None
        caps = {str(o): c for o, c in objs.items()} if restrict_to_targets else None
        t0 = time.perf_counter()
        res = detector.detect(rgb, depth, targets=targets, max_instances=caps)
        seconds = time.perf_counter() - t0
        report["images"] += 1
        report["proposals"] += res.proposals
        report["zero_proposal_images"] += int(res.proposals == 0)
        for k, v in res.timings_ms.items():
            stage_sums[k] += v
        for d in res.detections:
            results.append(make_result(scene_id, im_id, int(d.obj_id), d.score, d.mask, d.bbox, seconds))
        report["detections"] += len(res.detections)
    n = max(report["images"], 1)
    report["proposals_per_image"] = report["proposals"] / n
    report["ms_per_image"] = {k: v / n for k, v in stage_sums.items()}
    return results, report
