"""BOP 2D detection/segmentation results: build entries, name, write and validate result files.

A results file is a JSON list of ``{"scene_id", "image_id", "category_id" (= obj_id), "score",
"bbox": [x, y, w, h], "segmentation": {"counts", "size": [H, W]} (COCO RLE), "time"}``; ``time`` (seconds)
is the same for every entry of an image (-1 if unknown). The file is named ``METHOD_DATASET-SPLIT.json``
where METHOD has no underscore.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vision.common.atomic import write_json_atomic
from vision.common.errors import UserError, read_json
from vision.masks import RLEError, counts_to_string, rle_encode, rle_validate

_NAME = re.compile(r"^([A-Za-z0-9\-.]+)_([A-Za-z0-9\-.]+)-([A-Za-z0-9.]+)\.json$")


def results_filename(method: str, dataset: str, split: str) -> str:
    """``METHOD_DATASET-SPLIT.json``; METHOD must not contain ``_`` (BOP parses the name)."""
    if not method or "_" in method:
        raise UserError(f"method name {method!r} must be non-empty and contain no '_'")
    if "_" in dataset or "_" in split or "-" in split:
        raise UserError(f"dataset {dataset!r} / split {split!r} must not contain '_' (split also no '-')")
    return f"{method}_{dataset}-{split}.json"


def parse_results_filename(path: Path) -> tuple[str, str, str] | None:
    """(method, dataset, split) from a BOP results file name, or None if it does not follow the pattern."""
    m = _NAME.match(Path(path).name)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def make_result(
    scene_id: int,
    image_id: int,
    obj_id: int,
    score: float,
    mask: np.ndarray,
    bbox: Sequence[int] | None = None,
    time_s: float = -1.0,
) -> dict[str, Any]:
    """One results entry; ``mask`` is (H, W) bool, ``bbox`` xywh (default: tight box of the mask)."""
    if bbox is None:
        from vision.proposals import mask_bbox

        bbox = mask_bbox(mask)
    return {
        "scene_id": int(scene_id),
        "image_id": int(image_id),
        "category_id": int(obj_id),
        "score": float(score),
        "bbox": [int(v) for v in bbox],
        "segmentation": rle_encode(mask),
        "time": float(time_s),
    }


def write_results(path: str | Path, results: Iterable[dict[str, Any]], overwrite: bool = False) -> Path:
    """Write ``results`` atomically; refuses an existing file unless ``overwrite``."""
    return write_json_atomic(path, list(results), overwrite=overwrite)


def load_results(
    path: str | Path,
    categories: Iterable[int] | None = None,
    need_segmentation: bool = True,
) -> list[dict[str, Any]]:
    """Read and validate a results file.

    Every entry must have the BOP keys with the right types; ``category_id`` must be one of
    ``categories`` (if given); ``segmentation`` must be a decodable RLE (if ``need_segmentation``); an
    uncompressed RLE (``counts`` a list) is returned compressed, as pycocotools reads both.
    Violations raise :class:`UserError` naming the file and the entry index.
    """
    p = Path(path)
    data = read_json(p, "results file")
    if not isinstance(data, list):
        raise UserError("results file must be a JSON list of detections", p)
    known = None if categories is None else {int(c) for c in categories}
    for i, r in enumerate(data):
        if not isinstance(r, dict):
            raise UserError(f"entry {i} is not an object", p)
        for key in ("scene_id", "image_id", "category_id", "score"):
            if key not in r:
                raise UserError(f"entry {i} has no '{key}'", p)
        if not all(isinstance(r[k], int) for k in ("scene_id", "image_id", "category_id")):
            raise UserError(f"entry {i}: scene_id, image_id and category_id must be integers", p)
        if not isinstance(r["score"], int | float) or not np.isfinite(r["score"]):
            raise UserError(f"entry {i}: score must be a finite number", p)
        if known is not None and r["category_id"] not in known:
            raise UserError(f"entry {i}: unknown category_id {r['category_id']} (dataset objects: {sorted(known)})", p)
        bbox = r.get("bbox")
        if bbox is not None and not (
            isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)
        ):
            raise UserError(f"entry {i}: bbox must be [x, y, w, h]", p)
        if need_segmentation:
            if "segmentation" not in r:
                raise UserError(f"entry {i} has no 'segmentation'", p)
            try:
                counts = rle_validate(r["segmentation"])
            except RLEError as err:
                raise UserError(f"entry {i}: bad RLE segmentation ({err})", p) from err
            if isinstance(r["segmentation"]["counts"], list):  # uncompressed RLE: compress as pycocotools would
                r["segmentation"] = {"counts": counts_to_string(counts.tolist()), "size": list(r["segmentation"]["size"])}
        elif bbox is None:
            raise UserError(f"entry {i} has no 'bbox'", p)
    return data
