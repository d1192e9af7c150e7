"""Per-stage milliseconds of unseen-object detection on this CPU, and BOP evaluation time; JSON report.

Stages per image: SAM image encoder, mask generation (prompt decoding, filtering, NMS inside SAM's
automatic mask generator), proposal filter, crops, embedding, gallery matching. Measured for

* the classical OpenCV segmenter (the baseline every SAM figure is compared with, same run),
* the CPU preset with a tiny randomly initialised SAM (``build_tiny_sam``, input 256 px), and
* the CPU preset with ``vit_b`` at random weights (the real architecture, 1024 px input: weights do not
  change the compute; ``--vit-b-images``, default 1, because it takes seconds per image on a CPU).

With random weights SAM's masks are salt-and-pepper noise, and the automatic mask generator's
post-processing (run-length encoding every mask in Python, copying the record lists) then takes tens of
seconds per image: a cost of the random weights, not of SAM (real masks have a few hundred runs). So the
SAM runs time what does not depend on the weights: the image encoder and the decoding of the CPU preset's
prompt grid (16 x 16 points in batches of 64, SamSegmenter.segment_points), and then the usual
crops/embedding/matching on the 32 highest-scoring prompted masks. The load average is recorded: on a
shared machine it inflates every figure, so compare the ratios to the classical baseline of the same run.
The BOP evaluation is timed on 1,000 detections (perturbed ground-truth masks with random scores and
some wrong labels on a generated BOP fixture), against stock pycocotools in the same run.

    python benchmarks/vision_bench.py --out vision_bench.json
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

STAGE_KEYS = ("sam_encoder", "prompt_decoding", "segmentation", "filter", "crops", "embedding", "matching", "total")


class PromptGridSegmenter:
    """SAM on a regular prompt grid (the AMG's points) without the AMG's data-dependent post-processing.

    Returns the ``max_proposals`` prompted masks with the highest predicted IoU; ``last_timings_ms`` has
    ``sam_encoder`` and ``prompt_decoding``.
    """

    def __init__(self, sam_segmenter: Any, points_per_side: int, max_proposals: int = 32) -> None:
        self.sam = sam_segmenter
        self.n = points_per_side
        self.max_proposals = max_proposals
        self.last_timings_ms: dict[str, float] = {}

    def segment(self, rgb: np.ndarray, depth: np.ndarray | None = None) -> list[Any]:
        h, w = rgb.shape[:2]
        offset = 1 / (2 * self.n)
        side = np.linspace(offset, 1 - offset, self.n)
        grid = np.stack(np.meshgrid(side, side), axis=-1).reshape(-1, 2) * np.array([w, h])
        props = self.sam.segment_points(rgb, grid)
        t = self.sam.last_timings_ms
        self.last_timings_ms = {"sam_encoder": t["sam_encoder"], "prompt_decoding": t["mask_generation"]}
        props = [p for p in props if p.mask.any()]
        return sorted(props, key=lambda p: -p.score)[: self.max_proposals]


def _stage_ms(detector: Any, frames: list[tuple[np.ndarray, np.ndarray | None]], warmup: int = 1) -> dict[str, Any]:
    """Mean milliseconds per stage over ``frames`` (after ``warmup`` untimed runs of the first frame)."""
    for _ in range(warmup):
        detector.detect(*frames[0])
    sums: dict[str, float] = {}
    proposals = 0
    for rgb, depth in frames:
        res = detector.detect(rgb, depth)
        proposals += res.kept_proposals
        for k, v in res.timings_ms.items():
            sums[k] = sums.get(k, 0.0) + v
    n = len(frames)
    out: dict[str, Any] = {k: round(sums.get(k, 0.0) / n, 2) for k in STAGE_KEYS if k in sums}
    out["proposals_per_image"] = proposals / n
    out["images"] = n
    return out


def _perturbed_results(ds: Any, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` detections over the target images: shifted/dilated GT masks, random scores, 20 % wrong labels."""
    import cv2

    from vision.bop.results import make_result

    images = ds.target_images("test")
    objects = ds.object_ids()
    out = []
    while len(out) < n:
        for scene_id, im_id in images:
            sc = ds.scene("test", scene_id)
            for gt_idx, g in enumerate(sc.gt[im_id]):
                m = ds.visib_mask("test", scene_id, im_id, gt_idx).astype(np.uint8)
                if m.sum() == 0:
                    continue
                dx, dy = rng.integers(-6, 7, size=2)
                m = np.roll(np.roll(m, dx, axis=1), dy, axis=0)
                m = cv2.dilate(m, np.ones((3, 3), np.uint8)) if rng.random() < 0.5 else m
                obj = g["obj_id"] if rng.random() > 0.2 else int(rng.choice(objects))
                out.append(make_result(scene_id, im_id, obj, float(rng.random()), m.astype(bool), None, 0.1))
                if len(out) == n:
                    return out
    return out


def _stock_pycocotools(ds: Any, results: list[dict[str, Any]]) -> tuple[float, float]:
    """(AP, seconds) of stock pycocotools on the same GT (no ignore rule) and detections, segm."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from vision.masks import rle_encode

    t0 = time.perf_counter()
    images = ds.target_images("test")
    ids = {key: i for i, key in enumerate(images)}
    h, w = ds.image_size()
    gt: dict[str, Any] = {"images": [{"id": i, "height": h, "width": w} for i in ids.values()], "annotations": [],
                          "categories": [{"id": c} for c in ds.object_ids()]}
    for (scene_id, im_id), i in ids.items():
        sc = ds.scene("test", scene_id)
        for gt_idx, g in enumerate(sc.gt[im_id]):
            m = ds.visib_mask("test", scene_id, im_id, gt_idx)
            x, y, bw, bh = sc.gt_info[im_id][gt_idx]["bbox_visib"]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i, "category_id": g["obj_id"],
                                      "segmentation": rle_encode(m), "area": float(m.sum()), "bbox": [x, y, bw, bh],
                                      "iscrowd": 0})
    dts = [{"image_id": ids[(r["scene_id"], r["image_id"])], "category_id": r["category_id"], "score": r["score"],
            "segmentation": r["segmentation"]} for r in results if (r["scene_id"], r["image_id"]) in ids]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dts), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2, help="images for the classical and tiny-SAM runs (default 2)")
    parser.add_argument("--vit-b-images", type=int, default=1, help="images for the vit_b run; 0 skips it (default 1)")
    parser.add_argument("--backbone", default="resnet18", help="embedder backbone (timm name, random weights)")
    parser.add_argument("--embed-size", type=int, default=128, help="embedder input side (default 128)")
    parser.add_argument("--detections", type=int, default=1000, help="detections for the evaluation timing")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared 2-core machine 2 threads thrash, 10x slower)")
    parser.add_argument("--device", default="cpu", help="torch device for SAM and the embedder (default cpu)")
    parser.add_argument("--out", type=Path, default=Path("vision_bench.json"), help="JSON report")
    args = parser.parse_args()

    import torch

    from identification.embed import ImageEmbedder
    from identification.model import build_embedder
    from vision.bop.evaluate import evaluate_bop
    from vision.bop.fixture import generate_bop
    from vision.bop.infer import build_identifier
    from vision.bop.reader import BopDataset
    from vision.classical import ClassicalSegmenter
    from vision.common.atomic import write_json_atomic
    from vision.common.runinfo import machine_info
    from vision.detect import Detector
    from vision.masks import MaskFilter
    from vision.sam import SamSegmenter, build_sam, build_tiny_sam, get_preset

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    report: dict[str, Any] = {"machine": machine_info(("torch", "numpy", "opencv-python-headless", "segment-anything",
                                                        "timm", "pycocotools", "faiss-cpu")),
                              "load_average_at_start": os.getloadavg(), "torch_threads": args.threads, "device": args.device, "embedder": args.backbone}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bop"
        generate_bop(root, n_objects=8, n_scenes=5, images_per_scene=4, seed=0, onboarding_views=2)
        ds = BopDataset(root)
        frames = [(ds.read_rgb("test", s, i), ds.read_depth("test", s, i)) for s, i in ds.target_images("test")]
        embedder = ImageEmbedder(build_embedder(args.backbone, img_size=args.embed_size).eval(), device=args.device)
        identifier, _ = build_identifier(ds, "static", embedder)
        cpu = get_preset("cpu")
        report["preset"] = {"name": "cpu", **dataclasses.asdict(cpu),
                            "timed": "image encoder + decoding of the prompt grid; AMG post-processing not timed (random weights)"}
        # classical: the filter used on real runs; random SAM: keep every (non-empty) mask so later stages work
        filters = {"classical": MaskFilter(min_area=400),
                   "random_sam": MaskFilter(min_area=1, max_area_fraction=1.0, max_box_fraction=2.0, nms_iou=None)}

        def run(name: str, segmenter: Any, n: int, with_depth: bool, warmup: int = 1) -> None:
            mask_filter = filters["classical" if name == "classical" else "random_sam"]
            det = Detector(segmenter, identifier, mask_filter=mask_filter, score_threshold=-1.0)
            fr = [(rgb, d if with_depth else None) for rgb, d in frames[:n]]
            t0 = time.perf_counter()
            report[name] = _stage_ms(det, fr, warmup)
            report[name]["warmup_runs"] = warmup
            report[name]["wall_s"] = round(time.perf_counter() - t0, 2)
            print(name, report[name], flush=True)

        run("classical", ClassicalSegmenter(), args.images, True)
        pps = cpu.points_per_side
        tiny = SamSegmenter(build_tiny_sam(img_size=256), cpu, device=args.device)
        run("tiny_sam_cpu_preset", PromptGridSegmenter(tiny, pps), args.images, False)
        if args.vit_b_images > 0:
            vit_b = SamSegmenter(build_sam("vit_b"), cpu, device=args.device)
            # no warm-up run: a vit_b image takes tens of seconds on a shared CPU
            run("vit_b_random_cpu_preset", PromptGridSegmenter(vit_b, pps), args.vit_b_images, False, warmup=0)
        base = report["classical"]["total"]
        report["ratio_total_vs_classical"] = {k: round(report[k]["total"] / base, 1) for k in
                                              ("tiny_sam_cpu_preset", "vit_b_random_cpu_preset") if k in report}

        rng = np.random.default_rng(0)
        results = _perturbed_results(ds, args.detections, rng)
        ev: dict[str, Any] = {"detections": len(results), "images": len(ds.target_images("test"))}
        for ann in ("segm", "bbox"):
            t0 = time.perf_counter()
            s = evaluate_bop(ds, "test", results, ann_type=ann)
            ev[f"{ann}_seconds"] = round(time.perf_counter() - t0, 3)
            ev[f"{ann}_AP"] = round(s["AP"], 4)
            ev["gt_ignored"] = s["gt_ignored"]
        ap_stock, sec_stock = _stock_pycocotools(ds, results)
        ev["stock_pycocotools_segm_seconds"] = round(sec_stock, 3)
        ev["stock_pycocotools_segm_AP_without_ignore_rule"] = round(ap_stock, 4)
        report["bop_eval"] = ev
        print("bop_eval", ev, flush=True)
    report["load_average_at_end"] = os.getloadavg()
    write_json_atomic(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
