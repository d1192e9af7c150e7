"""``edgevision demo grasp`` end to end: inputs -> grasp node -> output bag, JSON and annotated PNGs.

Output folder (published atomically; an existing one needs ``overwrite``)::

    OUT/detections.mcap/        rosbag2 (MCAP; ``detections.sqlite3/`` with storage sqlite3): the node's
                                Detection2DArray, Detection3DArray, two PoseArrays, annotated Image
    OUT/detections.json         per frame: every kept object with its ranked products and both grasps
    OUT/report.json             inputs, counts, skip reasons, per-stage timings, fps, ground-truth scores
    OUT/annotated/<frame>.png   annotated frames (the first ``max_annotated_png``; a frame name already used,
                                e.g. a.jpg after a.png, gets ``_2``, ``_3``...: ``annotated_png`` in
                                detections.json names each frame's file)
    OUT/config.yaml             the resolved config
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from demos.grasp.bag import BagWriter
from demos.grasp.config import GraspDemoConfig, SegmentConfig
from demos.grasp.evaluate import SceneScorer
from demos.grasp.frames import Frame
from demos.grasp.node import GraspNode
from vision.common.atomic import atomic_dir, write_json_atomic
from vision.common.config import save_config
from vision.common.errors import UserError, require_dir
from vision.common.progress import get_logger, track
from vision.common.runinfo import machine_info

LOG = get_logger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")  # grasp failure reasons are grouped with numbers masked


def build_segmenter(cfg: SegmentConfig, sam_checkpoint: str | os.PathLike[str] | None = None,
                    verify: bool = True) -> Any:
    """SAM (``vision.sam``) when a checkpoint is given, else ``vision.classical.ClassicalSegmenter``.

    ``verify`` checks the SAM checkpoint's SHA-256 against the official ones (off for fine-tuned ones).
    """
    if sam_checkpoint is not None:
        from vision.sam import SamSegmenter, build_sam

        return SamSegmenter(build_sam(cfg.sam_model, Path(sam_checkpoint), verify=verify), cfg.sam_preset)
    from vision.classical import ClassicalSegmenter

    return ClassicalSegmenter(min_height_mm=cfg.min_height_mm, depth_jump_mm=cfg.depth_jump_mm, min_area=cfg.min_area)


def reference_sets(folder: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """``{product_id: [image paths]}`` from ``<folder>/<product_id>/*.jpg|png``.

    ``folder`` may also be an ArmBench root (its ``Reference_Images/`` is used). Products whose
    folder has no image are included with an empty list (the caller counts them).
    """
    root = require_dir(folder, "reference image folder")
    if (root / "Reference_Images").is_dir():
        root = root / "Reference_Images"
    sets = {
        d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(root.iterdir()) if d.is_dir()
    }
    if not sets:
        raise UserError("has no product folders (expected <product_id>/<n>.jpg reference images)", root)
    return sets


def build_identifier(checkpoint: str | os.PathLike[str], gallery: str | os.PathLike[str] | None = None,
                     references: str | os.PathLike[str] | None = None, mode: str = "centroid",
                     batch_size: int = 32) -> tuple[Any, dict[str, Any]]:
    """An ``identification.identifier.Identifier`` from an embedder checkpoint and a gallery.

    Exactly one of ``gallery`` (a saved ``Gallery``) or ``references`` (reference image folders) is
    used. Returns ``(identifier, info)``; ``info`` counts products and unreadable reference images.
    An empty gallery is a :class:`UserError`.
    """
    from identification.embed import ImageEmbedder
    from identification.gallery import Gallery
    from identification.identifier import Identifier
    from identification.model import load_embedder

    embedder = ImageEmbedder(load_embedder(checkpoint), batch_size=batch_size)
    info: dict[str, Any] = {"checkpoint": str(checkpoint)}
    if gallery is not None:
        g = Gallery.load(gallery)
        if not g.product_ids:
            raise UserError("gallery has no products; add reference images first", gallery)
        if g.dim is not None and g.dim != embedder.embed_dim:
            raise UserError(f"gallery embeddings have {g.dim} dimensions but the embedder {checkpoint} makes "
                            f"{embedder.embed_dim}; build the gallery with the same embedder", gallery)
        info.update(gallery=str(gallery), products=len(g.product_ids))
        return Identifier(embedder, g, mode=mode), info
    if references is None:
        raise UserError("pass --gallery G or --references DIR to identify products")
    sets = reference_sets(references)
    ident = Identifier(embedder, Gallery(), mode=mode)
    no_images: list[str] = []
    unreadable = 0
    for pid, paths in track(list(sets.items()), "embedding reference images"):
        images = [img for img in (_read_rgb(p) for p in paths) if img is not None]
        unreadable += len(paths) - len(images)
        if not images:
            no_images.append(pid)
            continue
        ident.add_product(pid, images)
    if not ident.gallery.product_ids:
        raise UserError(f"gallery is empty: none of {len(sets)} product folders has a readable image", references)
    info.update(references=str(references), products=len(ident.gallery.product_ids),
                products_without_images=len(no_images), unreadable_images=unreadable)
    return ident, info


def _read_rgb(path: Path) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _stage_summary(timings: list[dict[str, float]]) -> dict[str, Any]:
    if not timings:
        return {}
    stages = list(timings[0])
    mean = {s: float(np.mean([t[s] for t in timings])) for s in stages}
    return {"mean_ms": mean, "fps": 1000.0 / mean["total"] if mean["total"] > 0 else None,
            "fps_by_stage": {s: (1000.0 / v if v > 0 else None) for s, v in mean.items() if s != "total"}}


def _unique_stem(name: str, used: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... when taken (frames a.png and a.jpg share the stem ``a``)."""
    stem, k = name, 1
    while stem.lower() in used:  # case-insensitive: a.png and A.jpg collide on macOS/Windows file systems
        k += 1
        stem = f"{name}_{k}"
    used.add(stem.lower())
    return stem


def run_grasp_demo(
    frames: Iterable[Frame],
    node: GraspNode,
    out: str | os.PathLike[str],
    cfg: GraspDemoConfig,
    overwrite: bool = False,
    inputs: dict[str, Any] | None = None,
    products: Sequence[str] | None = None,
    input_stats: Any | None = None,
) -> dict[str, Any]:
    """Run ``node`` on every frame and write the output folder described in the module docstring.

    Returns the report dict (also written to ``report.json``). ``input_stats`` (e.g. a
    :class:`~demos.grasp.bag.BagReadStats`) is filled while ``frames`` is consumed and reported.
    """
    out = Path(out)
    scorer = SceneScorer(list(products) if products else None)
    reasons: Counter = Counter()
    skipped: Counter = Counter()
    timings: list[dict[str, float]] = []
    per_frame: list[dict[str, Any]] = []
    n_objects = n_proposals = n_png = 0
    used_png: set[str] = set()
    start = time.perf_counter()
    bag_name = "detections.mcap" if cfg.storage == "mcap" else "detections.sqlite3"
    with atomic_dir(out, overwrite) as tmp:
        (tmp / "annotated").mkdir()
        with BagWriter(tmp / bag_name, storage=cfg.storage, store=node.store) as bag:
            node.publish = bag.write
            for frame in track(frames, "grasp node"):
                result = node.callback(frame)
                timings.append(result.timings_ms)
                scores = scorer.add(result)
                skipped.update(result.skipped)
                n_objects += len(result.objects)
                n_proposals += result.proposals
                for obj in result.objects:
                    for g in (obj.suction, obj.parallel_jaw):
                        if not g.ok:
                            reasons[g.kind + ": " + _NUMBER.sub("N", g.reason)] += 1
                png = None
                if n_png < cfg.max_annotated_png:
                    png = f"annotated/{_unique_stem(frame.name, used_png)}.png"
                    cv2.imwrite(str(tmp / png), cv2.cvtColor(result.annotated, cv2.COLOR_RGB2BGR))
                    n_png += 1
                per_frame.append({"frame": frame.name, "annotated_png": png, "stamp_ns": frame.stamp_ns,
                                  "proposals": result.proposals,
                                  "objects": [o.to_dict() for o in result.objects],
                                  "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
                                  **({"ground_truth": scores} if scores is not None else {})})
            counts = dict(bag.counts)
        wall = time.perf_counter() - start
        report = {
            "inputs": inputs or {},
            "input_stats": input_stats if isinstance(input_stats, dict | None) else input_stats.to_dict(),
            "frames_skipped": input_stats.get("skipped", 0) if isinstance(input_stats, dict) else 0,
            "products_requested": list(products) if products else "all",
            "frames": len(per_frame),
            "proposals": n_proposals,
            "objects_grasped": n_objects,
            "objects_skipped": dict(skipped),
            "grasp_failures": dict(reasons),
            "grasps": {"suction": sum(1 for f in per_frame for o in f["objects"] if o["suction"]["ok"]),
                       "parallel_jaw": sum(1 for f in per_frame for o in f["objects"] if o["parallel_jaw"]["ok"])},
            "timings": _stage_summary(timings),
            "wall_s": wall,
            "wall_fps": len(per_frame) / wall if wall > 0 else None,
            "ground_truth": scorer.summary() if scorer.frames else None,
            "output_bag": {"path": bag_name, "storage": cfg.storage, "messages": counts,
                           "topics": node.output_topics},
            "machine": machine_info(),
        }
        write_json_atomic(tmp / "detections.json", {"frames": per_frame})
        write_json_atomic(tmp / "report.json", report)
        save_config(cfg, tmp / "config.yaml")
    LOG.info("grasp demo: %d frames, %d objects, outputs in %s", len(per_frame), n_objects, out)
    return report

