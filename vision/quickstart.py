"""Quickstart step of the vision area: unseen-object detection on a generated BOP dataset.

Generates a small BOP-format fixture (cluttered RGB-D tote scenes), builds object galleries from its
static onboarding images with the embedder the identification step trained (``context["embedder_checkpoint"]``),
detects with the classical segmenter (no SAM checkpoint can be downloaded here; the warning says so),
writes the BOP results file, evaluates it (segm and bbox AP, BOP rules) and draws annotated images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from vision.common.errors import UserError

if TYPE_CHECKING:
    from demos.quickstart import StepResult

MIN_AREA = 400  # 480x360 images: the paper's 50x50 px at 1920x1080 scales to ~210 px; 400 keeps real objects


def step(workdir: Path, seed: int, context: dict[str, Path]) -> StepResult:
    """Run the vision step (see module docstring); budget: well under a minute on 2 CPU cores."""

    from demos.quickstart import StepResult
    from identification.embed import ImageEmbedder
    from identification.model import load_embedder
    from vision.annotate import draw_detections
    from vision.bop.evaluate import evaluate_bop
    from vision.bop.fixture import generate_bop
    from vision.bop.infer import build_identifier, run_inference
    from vision.bop.reader import BopDataset
    from vision.bop.results import results_filename, write_results
    from vision.common.atomic import write_json_atomic
    from vision.detect import Detection, Detector
    from vision.masks import MaskFilter, rle_decode
    from vision.pipeline import build_segmenter

    ckpt = context.get("embedder_checkpoint")
    if ckpt is None or not Path(ckpt).is_file():
        raise UserError("the vision step needs the embedder checkpoint trained by the identification step "
                        "(context['embedder_checkpoint'] is missing); run the identification step first")
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "bop-fixture"
    fixture = generate_bop(root, n_objects=6, n_scenes=2, images_per_scene=4, seed=seed)
    ds = BopDataset(root)
    embedder = ImageEmbedder(load_embedder(ckpt).eval(), batch_size=32)
    identifier, gallery_report = build_identifier(ds, "static", embedder, mode="centroid")
    detector = Detector(build_segmenter("auto", None), identifier, mask_filter=MaskFilter(min_area=MIN_AREA),
                        score_threshold=0.2)
    results, report = run_inference(ds, "test", detector)
    results_path = write_results(workdir / results_filename("edgevision", "fixture", "test"), results, overwrite=True)
    scores = {ann: evaluate_bop(ds, "test", results, ann_type=ann) for ann in ("segm", "bbox")}
    scores_path = write_json_atomic(workdir / "scores.json", {"fixture": fixture, "gallery": gallery_report,
                                                              "inference": report, **scores})
    annotated = workdir / "annotated"
    annotated.mkdir(exist_ok=True)
    for scene_id, im_id in ds.target_images("test"):
        dets = [Detection(str(r["category_id"]), r["score"], tuple(r["bbox"]), rle_decode(r["segmentation"]))
                for r in results if (r["scene_id"], r["image_id"]) == (scene_id, im_id)]
        img = draw_detections(ds.read_rgb("test", scene_id, im_id), dets)
        cv2.imwrite(str(annotated / f"{scene_id:06d}_{im_id:06d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    figures = {
        "segm_AP": round(scores["segm"]["AP"], 4),
        "bbox_AP": round(scores["bbox"]["AP"], 4),
        "proposals/image": round(report["proposals_per_image"], 2),
        "ms/image": round(report["ms_per_image"].get("total", 0.0), 1),
    }
    return StepResult(name="vision", figures=figures, outputs=[results_path, scores_path, annotated],
                      artifacts={"bop_fixture": root, "bop_results": results_path})
