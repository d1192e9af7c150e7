"""CLI of the vision area: ``detect``, ``vision download-sam``, ``bop eval|infer|fixture``.

Only argparse/stdlib at module level; heavy imports happen inside the handlers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _add_segmenter_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("segmentation (flags override --config)")
    g.add_argument("--config", type=Path, help="detector config YAML (configs/vision/detect-*.yaml)")
    g.add_argument("--segmenter", choices=("auto", "sam", "classical"),
                   help="auto: SAM when --sam-checkpoint is given, else the classical OpenCV segmenter (default auto)")
    g.add_argument("--sam-checkpoint", type=Path, help="official SAM .pth (verified by SHA-256 before loading)")
    g.add_argument("--sam-model", choices=("vit_b", "vit_l", "vit_h"),
                   help="SAM model type (default: from the official file name, else the preset's)")
    g.add_argument("--sam-preset", help="mask generation preset: paper, cpu, sam-default (default cpu)")
    g.add_argument("--no-verify", action="store_true", help="skip the SHA-256 check (fine-tuned SAM checkpoints)")
    g.add_argument("--min-area", type=int, help="drop proposals under this many pixels (default 2500 = 50x50)")


def _add_matching_options(p: argparse.ArgumentParser, threshold: float) -> None:
    g = p.add_argument_group("identification (flags override --config)")
    g.add_argument("--mode", choices=("centroid", "best_view"), help="gallery matching (default centroid)")
    g.add_argument("--score-threshold", type=float,
                   help=f"minimum cosine similarity for a detection (default {threshold})")
    g.add_argument("--nms-iou", type=float, help="per-object mask NMS IoU (default 0.5)")
    g.add_argument("--max-instances", type=int, help="detections per object per image (default 10)")
    g.add_argument("--top-k", type=int, help="gallery matches kept per segment, each a detection (default 1)")


def _detector(args: argparse.Namespace, identifier: Any, cfg: Any) -> Any:
    """The Detector for a CLI call with the resolved config ``cfg``."""
    from vision.config import build_detector

    return build_detector(cfg, identifier, args.sam_checkpoint)


# ------------------------------------------------------------------------------------------ detect
def _list_images(path: Path) -> list[Path]:
    from vision.common.errors import UserError

    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise UserError("folder contains no images", path)
        return files
    raise UserError("image or folder does not exist", path)


def _cmd_detect(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from vision.annotate import draw_detections
    from vision.bop.reader import read_image
    from vision.common.atomic import atomic_dir, check_can_write, write_json_atomic
    from vision.common.config import config_to_dict
    from vision.common.errors import UserError
    from vision.common.progress import get_logger, track
    from vision.common.runinfo import machine_info
    from vision.pipeline import load_identifier

    log = get_logger("vision.detect")
    images = _list_images(args.input)
    if args.depth is not None and not args.depth.exists():
        raise UserError("--depth file or folder does not exist", args.depth)
    if not args.depth_scale > 0:
        raise UserError(f"--depth-scale must be > 0, got {args.depth_scale}")
    check_can_write(args.out, args.overwrite)
    from vision.common.config import save_config
    from vision.config import resolve_detect_config

    cfg = resolve_detect_config(args)
    identifier = load_identifier(args.checkpoint, args.gallery, mode=cfg.mode)
    detector = _detector(args, identifier, cfg)
    targets = [t.strip() for t in args.targets.split(",")] if args.targets else None
    if targets:
        unknown = [t for t in targets if t not in identifier.gallery]
        if unknown:
            raise UserError(f"--targets names objects not in the gallery: {', '.join(unknown)}", args.gallery)
    per_image, skipped = [], []
    stage_sums: dict[str, float] = {}
    with atomic_dir(args.out, args.overwrite) as tmp:
        (tmp / "annotated").mkdir()
        save_config(cfg, tmp / "config.yaml")
        for path in track(images, "detecting"):
            try:
                rgb = read_image(path)
            except UserError as err:
                log.warning("skipping %s", err.one_line())
                skipped.append({"image": str(path), "reason": err.message})
                continue
            depth = None
            if args.depth is not None:
                dpath = args.depth if args.depth.is_file() else args.depth / (path.stem + ".png")
                if dpath.is_file():
                    depth = read_image(dpath, cv2.IMREAD_UNCHANGED).astype(np.float32) * args.depth_scale
                    if depth.shape != rgb.shape[:2]:
                        raise UserError(f"depth image is {depth.shape}, expected a single channel of {rgb.shape[:2]} "
                                        f"like {path.name}", dpath)
            res = detector.detect(rgb, depth, targets=targets)
            ann = draw_detections(rgb, res.detections)
            cv2.imwrite(str(tmp / "annotated" / f"{path.stem}.png"), cv2.cvtColor(ann, cv2.COLOR_RGB2BGR))
            for k, v in res.timings_ms.items():
                stage_sums[k] = stage_sums.get(k, 0.0) + v
            per_image.append({"image": str(path), "proposals": res.proposals, "kept_proposals": res.kept_proposals,
                              "dropped": res.dropped, "timings_ms": {k: round(v, 3) for k, v in res.timings_ms.items()},
                              "detections": [d.to_json() for d in res.detections]})
        n = max(len(per_image), 1)
        report: dict[str, Any] = {
            "images": len(per_image),
            "skipped_images": len(skipped),
            "skipped": skipped,
            "detections": sum(len(r["detections"]) for r in per_image),
            "zero_proposal_images": sum(1 for r in per_image if r["proposals"] == 0),
            "mean_timings_ms": {k: v / n for k, v in stage_sums.items()},
            "segmenter": type(detector.segmenter).__name__,
            "config": config_to_dict(cfg),
            "inputs": {"images": str(args.input), "gallery": str(args.gallery), "checkpoint": str(args.checkpoint),
                       "sam_checkpoint": str(args.sam_checkpoint) if args.sam_checkpoint else None},
            "machine": machine_info(),
            "results": per_image,
        }
        write_json_atomic(tmp / "detections.json", report)
    print(f"{report['detections']} detections in {report['images']} images ({report['skipped_images']} skipped); "
          f"{report['mean_timings_ms'].get('total', 0):.0f} ms/image; wrote {args.out / 'detections.json'}")
    return 0


# ------------------------------------------------------------------------------------ download-sam
def _cmd_download_sam(args: argparse.Namespace) -> int:
    from vision.sam import download_sam

    path = download_sam(args.name, args.dest, timeout=args.timeout, overwrite=args.overwrite)
    print(f"downloaded and verified {path}")
    return 0


# ------------------------------------------------------------------------------------------- bop
def _cmd_bop_eval(args: argparse.Namespace) -> int:
    from vision.bop.evaluate import evaluate_bop
    from vision.bop.reader import BopDataset
    from vision.bop.results import load_results
    from vision.common.atomic import check_can_write, write_json_atomic
    from vision.common.progress import print_table

    check_can_write(args.out, args.overwrite)
    ds = BopDataset(args.dataset)
    results = load_results(args.results, categories=ds.object_ids(), need_segmentation=args.ann_type == "segm")
    scores = evaluate_bop(ds, args.split, results, args.targets, args.ann_type, args.bbox_type)
    scores = {"results": str(args.results), "dataset": str(args.dataset), "split": args.split, **scores}
    write_json_atomic(args.out, scores, overwrite=args.overwrite)
    keys = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100"]
    print_table(f"BOP {args.ann_type} evaluation ({scores['images']} images, {scores['gt_ignored']} GT ignored)",
                keys, [[round(100 * scores[k], 1) if scores[k] >= 0 else -1 for k in keys]])
    print(f"wrote {args.out}")
    return 0


def _cmd_bop_infer(args: argparse.Namespace) -> int:
    from identification.embed import ImageEmbedder
    from identification.model import load_embedder
    from vision.bop.infer import build_identifier, run_inference
    from vision.bop.reader import BopDataset
    from vision.bop.results import parse_results_filename, results_filename, write_results
    from vision.common.atomic import check_can_write, write_json_atomic
    from vision.common.config import config_to_dict, save_config
    from vision.common.errors import UserError
    from vision.config import resolve_detect_config

    ds = BopDataset(args.dataset)
    out = args.out
    if out.is_dir():
        out = out / results_filename(args.method, ds.root.name.replace("_", "-"), args.split)
    elif parse_results_filename(out) is None:
        raise UserError("results file name must be METHOD_DATASET-SPLIT.json (METHOD without '_'), or give a folder", out)
    check_can_write(out, args.overwrite)
    embedder = ImageEmbedder(load_embedder(args.checkpoint).eval())
    cfg = resolve_detect_config(args, {"score_threshold": 0.2})
    identifier, gallery_report = build_identifier(ds, args.onboarding, embedder, mode=cfg.mode)
    detector = _detector(args, identifier, cfg)
    results, report = run_inference(ds, args.split, detector, args.targets, use_depth=not args.no_depth,
                                    restrict_to_targets=args.restrict_to_targets)
    write_results(out, results, overwrite=args.overwrite)
    write_json_atomic(out.with_suffix(".report.json"), {"results": str(out), "onboarding": args.onboarding,
                                                        "gallery": gallery_report, **report,
                                                        "segmenter": type(detector.segmenter).__name__,
                                                        "config": config_to_dict(cfg)},
                      overwrite=True)
    save_config(cfg, out.with_suffix(".config.yaml"))
    print(f"{report['detections']} detections on {report['images']} images "
          f"({report['proposals_per_image']:.1f} proposals/image, {report['ms_per_image'].get('total', 0):.0f} ms/image); "
          f"wrote {out}")
    return 0


def _cmd_bop_fixture(args: argparse.Namespace) -> int:
    from vision.bop.fixture import generate_bop
    from vision.common.atomic import atomic_dir
    from vision.common.errors import UserError

    if args.objects < 1 or args.scenes < 1 or args.images < 1:
        raise UserError(f"--objects, --scenes and --images must be >= 1, got {args.objects}, {args.scenes}, {args.images}")
    with atomic_dir(args.out, args.overwrite) as tmp:
        summary = generate_bop(tmp, n_objects=args.objects, n_scenes=args.scenes, images_per_scene=args.images,
                               seed=args.seed)
    summary["root"] = str(args.out)
    print(", ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


# --------------------------------------------------------------------------------------- register
def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``detect``, ``vision`` and ``bop`` subcommands."""
    p = sub.add_parser("detect", parents=[common], help="detect gallery objects in images (segment -> identify)",
                       description="Segment every object in the images (SAM, or the classical OpenCV segmenter for "
                       "tote/tabletop scenes), crop and identify each segment against a gallery, and write "
                       "DIR/detections.json (detections with RLE masks, per-stage timings) and DIR/annotated/*.png.")
    p.add_argument("input", type=Path, metavar="IMAGE_OR_DIR", help="an image or a folder of images")
    p.add_argument("--gallery", type=Path, required=True, help="gallery folder (edgevision identify gallery output)")
    p.add_argument("--checkpoint", type=Path, required=True, help="embedder checkpoint the gallery was built with")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--depth", type=Path, help="depth PNG, or a folder with <image stem>.png depth files (uint16)")
    p.add_argument("--depth-scale", type=float, default=1.0, help="millimetres per depth unit (default 1.0)")
    p.add_argument("--targets", help="comma-separated object ids to look for (default: the whole gallery)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    _add_segmenter_options(p)
    _add_matching_options(p, 0.5)
    p.set_defaults(func=_cmd_detect)

    v = sub.add_parser("vision", parents=[common], help="SAM checkpoint tools",
                       description="Segment Anything checkpoint management.")
    vsub = v.add_subparsers(dest="vision_command", metavar="COMMAND", required=True)
    d = vsub.add_parser("download-sam", parents=[common], help="download and verify an official SAM checkpoint",
                        description="Download an official SAM checkpoint (vit_b, vit_l, vit_h) into DEST and verify "
                        "its SHA-256. Where the network refuses, says so in one line: fetch the file elsewhere.")
    d.add_argument("name", choices=("vit_b", "vit_l", "vit_h"), help="model type")
    d.add_argument("--dest", type=Path, required=True, help="folder for the checkpoint")
    d.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds (default 30)")
    d.add_argument("--overwrite", action="store_true", help="replace an existing file")
    d.set_defaults(func=_cmd_download_sam)

    b = sub.add_parser("bop", parents=[common], help="BOP benchmark: inference, evaluation, fixture",
                       description="Unseen-object 2D detection/segmentation on datasets in the BOP layout.")
    bsub = b.add_subparsers(dest="bop_command", metavar="COMMAND", required=True)
    e = bsub.add_parser("eval", parents=[common], help="COCO AP of a BOP results file (BOP rules)",
                        description="Evaluate a BOP 2D results file as the BOP toolkit does: images of the targets "
                        "file only, GT from mask_visib, GT with visib_fract < 0.1 ignored, amodal boxes for bbox. "
                        "Writes AP, AP50, AP75, AP S/M/L, AR1/10/100 to --out.")
    e.add_argument("--dataset", type=Path, required=True, help="BOP dataset folder")
    e.add_argument("--split", default="test", help="split folder: test or val (default test)")
    e.add_argument("--results", type=Path, required=True, help="results JSON (METHOD_DATASET-SPLIT.json)")
    e.add_argument("--targets", type=Path, help="targets file (default: DATASET/<split>_targets_bop19.json)")
    e.add_argument("--ann-type", choices=("segm", "bbox"), default="segm", help="segm (default) or bbox")
    e.add_argument("--bbox-type", choices=("amodal", "visib"), default="amodal", help="GT box for bbox (default amodal)")
    e.add_argument("--out", type=Path, required=True, help="scores JSON")
    e.add_argument("--overwrite", action="store_true", help="replace an existing scores file")
    e.set_defaults(func=_cmd_bop_eval)

    i = bsub.add_parser("infer", parents=[common], help="detect on a BOP split and write a results file",
                        description="Build object galleries from the onboarding images (masked crops), run "
                        "segment -> identify on every image of the targets file and write the BOP results file "
                        "(RLE masks, per-image time) plus <results>.report.json.")
    i.add_argument("--dataset", type=Path, required=True, help="BOP dataset folder")
    i.add_argument("--split", default="test", help="split folder (default test)")
    i.add_argument("--onboarding", choices=("static", "dynamic"), default="static", help="onboarding images to use")
    i.add_argument("--checkpoint", type=Path, required=True, help="embedder checkpoint")
    i.add_argument("--targets", type=Path, help="targets file (default: DATASET/<split>_targets_bop19.json)")
    i.add_argument("--method", default="edgevision", help="METHOD part of the file name when --out is a folder")
    i.add_argument("--restrict-to-targets", action="store_true",
                   help="identify only the objects the BOP'19 targets list per image, capped at inst_count")
    i.add_argument("--no-depth", action="store_true", help="ignore depth images")
    i.add_argument("--out", type=Path, required=True, help="results file METHOD_DATASET-SPLIT.json, or a folder")
    i.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    _add_segmenter_options(i)
    _add_matching_options(i, 0.2)
    i.set_defaults(func=_cmd_bop_infer)

    f = bsub.add_parser("fixture", parents=[common], help="generate a small BOP-format dataset",
                        description="Write a procedurally generated BOP dataset (cluttered RGB-D tote scenes with "
                        "occlusions, mask_visib, scene_gt_info with visib_fract, targets files, onboarding images).")
    f.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    f.add_argument("--objects", type=int, default=6, help="number of objects (default 6)")
    f.add_argument("--scenes", type=int, default=2, help="scenes in the test split (default 2)")
    f.add_argument("--images", type=int, default=4, help="images per scene (default 4)")
    f.add_argument("--seed", type=int, default=0, help="random seed")
    f.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    f.set_defaults(func=_cmd_bop_fixture)
