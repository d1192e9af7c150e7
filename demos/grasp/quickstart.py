"""Quickstart step ``grasp``: the grasp node on a generated scene bag, scored against its ground truth.

Needs the identification step's artifacts: ``embedder_checkpoint`` (the trained embedder) and
``armbench_root`` (the generated ArmBench set whose reference images form the gallery). The scenes
place products of that same catalog (recovered from the set itself, see :func:`catalog_from_armbench`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from demos.grasp.bag import BagReadStats, read_bag_frames
from demos.grasp.config import GraspDemoConfig
from demos.grasp.node import GraspNode
from demos.grasp.run import build_identifier, build_segmenter, reference_sets, run_grasp_demo
from demos.grasp.scene import write_scene_bag
from vision.common.errors import UserError

FRAMES = 8


def catalog_from_armbench(root: Path, seed_hint: int, max_seed: int = 64) -> list[Any]:
    """The fixture products of a generated ArmBench set that have reference images.

    The set's ``container.json`` files describe products as ``"<label text> <shape>"``; the catalog seed
    is the one (``seed_hint`` first, then 0..max_seed-1) whose ``make_catalog`` reproduces every
    description, so the scenes show exactly the products the gallery was built from.
    """
    from identification.fixture import make_catalog

    refs = {pid for pid, paths in reference_sets(root).items() if paths}
    described: dict[str, str] = {}
    for container in sorted((root / "Picks").glob("*/container.json")):
        try:
            data = json.loads(container.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        described.update({pid: str(v.get("description", "")) for pid, v in data.items() if isinstance(v, dict)})
    if not refs or not described:
        raise UserError("has no reference images or readable container.json files", root)
    n = max(int(pid.lstrip("P")) for pid in set(described) | refs) + 1
    for seed in [seed_hint, *range(max_seed)]:
        catalog = make_catalog(n, seed)
        by_id = {s.product_id: s for s in catalog}
        if all(pid in by_id and desc == f"{by_id[pid].label_text} {by_id[pid].shape}" for pid, desc in described.items()):
            return [s for s in catalog if s.product_id in refs]
    raise UserError("its products do not come from identification.fixture.make_catalog with a known seed", root)


def step(workdir: Path, seed: int, context: dict[str, Path]) -> Any:
    """Generate a scene bag, run the grasp node on it and report accuracy, grasp correctness and fps."""
    from demos.quickstart import StepResult

    ckpt, root = context.get("embedder_checkpoint"), context.get("armbench_root")
    if ckpt is None or root is None:
        raise UserError("the grasp step needs the identification step's embedder_checkpoint and armbench_root")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = GraspDemoConfig()
    catalog = catalog_from_armbench(Path(root), seed)
    bag = workdir / "scene_bag"
    write_scene_bag(bag, catalog, FRAMES, seed, cfg.scene, storage="sqlite3", overwrite=True)
    identifier, info = build_identifier(ckpt, references=root, mode=cfg.identify.mode)
    node = GraspNode(build_segmenter(cfg.segment), identifier, cfg.grasp, topics=cfg.topics,
                     top_k=cfg.identify.top_k, crop_pad=cfg.identify.crop_pad, use_manifest=cfg.identify.use_manifest)
    stats = BagReadStats()
    out = workdir / "grasp"
    report = run_grasp_demo(read_bag_frames(bag, stats=stats), node, out, cfg, overwrite=True,
                            inputs={"bag": str(bag), **info}, input_stats=stats)
    gt = report["ground_truth"] or {}
    figures = {
        "identification_accuracy": gt.get("identification_accuracy"),
        "identification_accuracy_open_set": gt.get("identification_accuracy_open_set"),
        "grasp_on_right_object": gt.get("grasp_on_right_object"),
        "grasp_on_segmented_object": gt.get("grasp_on_segmented_object"),
        "node_fps": report["timings"].get("fps"),
    }
    first_png = sorted((out / "annotated").glob("*.png"))
    return StepResult(
        name="grasp",
        figures=figures,
        outputs=[out / "detections.mcap", out / "report.json", *(first_png[:1])],
        artifacts={"grasp_output": out, "grasp_scene_bag": bag},
    )
