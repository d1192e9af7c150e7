"""``edgevision demo ...``: the robotics grasp node, its synthetic scene generator, the upscaling demo.

Only argparse at module level; the handlers import the heavy modules.
"""

from __future__ import annotations

import argparse
from pathlib import Path

GRASP_EPILOG = """\
examples:
  edgevision demo grasp-scene --out scene_bag --frames 8
  edgevision demo grasp --bag scene_bag --references armbench/Reference_Images \\
      --checkpoint embedder.pt --out grasp_out
  edgevision demo grasp --images frames/ --intrinsics camera.json --gallery gallery.safetensors \\
      --checkpoint embedder.pt --products P0003 P0007 --out grasp_out
"""


def _load_cfg(path: str | None):  # -> GraspDemoConfig
    from demos.grasp.config import GraspDemoConfig
    from vision.common.config import load_config

    return load_config(path, GraspDemoConfig) if path else GraspDemoConfig()


def _cmd_grasp(args: argparse.Namespace) -> int:
    from demos.grasp.bag import BagReadStats, BagTopics, read_bag_frames
    from demos.grasp.frames import load_intrinsics, read_image_folder
    from demos.grasp.node import GraspNode
    from demos.grasp.run import build_identifier, build_segmenter, run_grasp_demo
    from vision.common.atomic import check_can_write
    from vision.common.errors import UserError, require_file

    cfg = _load_cfg(args.config)
    if args.sync_tolerance_ms is not None:
        cfg.sync_tolerance_ms = args.sync_tolerance_ms
    if args.storage is not None:
        cfg.storage = args.storage
    if args.ignore_manifest:
        cfg.identify.use_manifest = False
    check_can_write(args.out, args.overwrite)
    require_file(args.checkpoint, "embedder checkpoint")
    if args.images and not args.intrinsics:
        raise UserError("--images needs --intrinsics K.json (fx, fy, cx, cy, width, height)", args.images)
    segmenter = build_segmenter(cfg.segment, args.sam_checkpoint, verify=not args.no_verify)
    identifier, gallery_info = build_identifier(args.checkpoint, args.gallery, args.references,
                                                cfg.identify.mode, cfg.identify.batch_size)
    if args.products:
        unknown = [p for p in args.products if p not in identifier.gallery.product_ids]
        if unknown:
            raise UserError(f"requested products not in the gallery: {', '.join(unknown)} "
                            f"(gallery has {len(identifier.gallery.product_ids)} products)")
    input_stats: object = None
    if args.bag:
        k = load_intrinsics(args.intrinsics)[0] if args.intrinsics else None
        stats = BagReadStats()
        t = cfg.topics
        frames = read_bag_frames(
            args.bag, BagTopics(args.rgb_topic, args.depth_topic, args.camera_info_topic), intrinsics=k,
            tolerance_ms=cfg.sync_tolerance_ms, depth_scale=cfg.depth_scale, stats=stats,
            preferred=BagTopics(t.rgb, t.depth, t.camera_info))
        source = {"bag": str(args.bag)}
        input_stats = stats
    else:
        folder_stats: dict = {}
        frames = read_image_folder(args.images, args.intrinsics, stats=folder_stats)
        input_stats = folder_stats
        source = {"images": str(args.images), "intrinsics": str(args.intrinsics)}
    node = GraspNode(segmenter, identifier, cfg.grasp, products=args.products, topics=cfg.topics,
                     min_similarity=cfg.identify.min_similarity, top_k=cfg.identify.top_k,
                     crop_pad=cfg.identify.crop_pad, use_manifest=cfg.identify.use_manifest)
    inputs = {**source, "segmenter": type(segmenter).__name__, **gallery_info}
    report = run_grasp_demo(frames, node, args.out, cfg, overwrite=args.overwrite, inputs=inputs,
                            products=args.products, input_stats=input_stats)
    _print_report(report, Path(args.out))
    return 0


def _print_report(report: dict, out: Path) -> None:
    from vision.common.progress import print_table

    rows = [("frames", report["frames"]), ("objects grasped", report["objects_grasped"]),
            ("suction grasps", report["grasps"]["suction"]), ("parallel-jaw grasps", report["grasps"]["parallel_jaw"])]
    timing = report.get("timings") or {}
    for stage, ms in (timing.get("mean_ms") or {}).items():
        rows.append((f"{stage} ms/frame", round(ms, 1)))
    if timing.get("fps"):
        rows.append(("node fps", round(timing["fps"], 2)))
    gt = report.get("ground_truth") or {}
    for key in ("identification_accuracy", "grasp_on_right_object", "suction_normal_error_deg_median"):
        if gt.get(key) is not None:
            rows.append((key, round(gt[key], 3)))
    for reason, n in report.get("grasp_failures", {}).items():
        rows.append((f"no grasp: {reason}", n))
    print_table(f"grasp demo -> {out}", ["figure", "value"], rows)
    print(f"report: {out / 'report.json'}")


def _cmd_grasp_scene(args: argparse.Namespace) -> int:
    from demos.grasp.run import reference_sets
    from demos.grasp.scene import write_scene_bag
    from identification.fixture import make_catalog
    from vision.common.errors import UserError

    cfg = _load_cfg(args.config)
    if args.frames < 1:
        raise UserError(f"--frames must be at least 1, got {args.frames}")
    if not args.references and args.catalog_size < 1:
        raise UserError(f"--catalog-size must be at least 1, got {args.catalog_size}")
    if args.references:
        ids = [pid for pid, paths in reference_sets(args.references).items() if paths]
        try:
            n = max(int(pid.lstrip("P")) for pid in ids) + 1
        except ValueError as err:
            raise UserError("product folders must be named like P0003 (fixture catalog ids)", args.references) from err
        catalog = [s for s in make_catalog(n, args.catalog_seed) if s.product_id in set(ids)]
    else:
        catalog = make_catalog(args.catalog_size, args.catalog_seed)
    if not catalog:
        raise UserError("no products to place in the scenes")
    summary = write_scene_bag(args.out, catalog, args.frames, args.seed, cfg.scene, storage=args.storage,
                              overwrite=args.overwrite, with_camera_info=not args.no_camera_info)
    print(f"wrote {summary['frames']} frames with {summary['objects']} objects of {len(summary['products'])} "
          f"products to {args.out} ({args.storage})")
    return 0


def _cmd_upscale(args: argparse.Namespace) -> int:
    from demos.upscale.demo import run_upscale_demo
    from videosr.config import RunConfig
    from vision.common.atomic import check_can_write
    from vision.common.config import load_config
    from vision.common.errors import UserError, require_file
    from vision.common.progress import print_table

    check_can_write(args.out, args.overwrite)
    if not Path(args.video).is_dir():
        require_file(args.video, "video")
    if args.config:
        cfg = load_config(args.config, RunConfig)
    else:
        cfg = RunConfig(methods=["bicubic", "single", "stdo"], save_video=[])
    cfg.video = str(args.video)
    for flag, attr in (("frames", "frames"), ("scale", "scale"), ("chunks", "chunks"), ("start", "start")):
        if getattr(args, flag) is not None:
            setattr(cfg, attr, getattr(args, flag))
    if args.steps is not None:
        cfg.train.steps = args.steps
    if args.grid:
        rows, _, cols = args.grid.partition("x")
        if not (rows.isdigit() and cols.isdigit() and int(rows) > 0 and int(cols) > 0):
            raise UserError(f"--grid must look like ROWSxCOLS with positive numbers, got {args.grid!r}")
        cfg.grid = [int(rows), int(cols)]
    tile = None
    if args.tile:
        th, _, tw = args.tile.partition("x")
        if not (th.isdigit() and tw.isdigit() and int(th) > 0 and int(tw) > 0):
            raise UserError(f"--tile must look like HxW with positive numbers, got {args.tile!r}")
        tile = (int(th), int(tw))
    report = run_upscale_demo(cfg, args.out, tile=tile, int8=args.int8, overwrite=args.overwrite)
    print_table(f"upscale demo: {report['frames']} frames x{report['scale']} -> {args.out}",
                ["method", "PSNR RGB (dB)", "PSNR Y (dB)", "source"],
                [(r["method"], round(r["psnr_rgb"], 2), round(r["psnr_y"], 2), r["source"]) for r in report["psnr_table"]])
    out = Path(args.out)
    print(f"comparison: {out / 'comparison.mp4'}, {out / 'comparison.png'}; report: {out / 'report.json'}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``demo grasp``, ``demo grasp-scene`` and ``demo upscale``."""
    demo = sub.add_parser("demo", parents=[common], help="end-to-end demos (robot grasping, video upscaling)",
                          description="End-to-end demos: the ROS-style grasp node on a rosbag2 or image folder, "
                          "a generator of synthetic RGB-D tote bags to run it on, and video upscaling from STDO training to "
                          "a played-back mobile bundle.")
    dsub = demo.add_subparsers(dest="demo_command", metavar="DEMO", title="demos")
    dsub.required = True

    g = dsub.add_parser(
        "grasp", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=GRASP_EPILOG,
        help="segment, identify and compute grasps on RGB-D frames from a rosbag2 or an image folder",
        description="Run the grasp node (segment -> identify against a gallery -> suction and parallel-jaw grasps "
        "as 6-DoF camera-frame poses) on a rosbag2 (sqlite3 or MCAP; sensor_msgs Image rgb8/bgr8 + 16UC1/32FC1 "
        "depth + CameraInfo) or on a folder of RGB(-D) images. Writes OUT/detections.mcap (rosbag2 with "
        "vision_msgs detections, PoseArray grasps, annotated Image), detections.json, report.json and "
        "annotated PNGs. Generated scene bags carry ground truth: the report then gives identification "
        "accuracy and the share of grasps on the right object. When the bag has a tote manifest "
        "(/edgevision/tote_manifest: the products in the tote), objects are identified among those products.")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--bag", help="input rosbag2 folder (sqlite3 or MCAP)")
    src.add_argument("--images", help="folder of RGB images (rgb/ + depth/ subfolders, or NAME.png + NAME_depth.png)")
    g.add_argument("--intrinsics", help="camera intrinsics JSON {fx, fy, cx, cy, width, height, depth_scale?}; "
                   "required with --images, used for bags without CameraInfo")
    gal = g.add_mutually_exclusive_group(required=True)
    gal.add_argument("--gallery", help="saved gallery file (identification gallery)")
    gal.add_argument("--references", help="reference images <product_id>/<n>.jpg (or an ArmBench root)")
    g.add_argument("--checkpoint", required=True, help="embedder checkpoint (identification)")
    g.add_argument("--sam-checkpoint", help="SAM checkpoint; without it the classical RGB-D segmenter is used")
    g.add_argument("--no-verify", action="store_true", help="skip the SAM checkpoint's SHA-256 check (fine-tuned SAM)")
    g.add_argument("--products", nargs="+", metavar="ID", help="grasp only these product ids (default: all)")
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--config", help="YAML config (default values: configs/demo/grasp.yaml)")
    g.add_argument("--rgb-topic", help="colour image topic (default: config's, else detected)")
    g.add_argument("--depth-topic", help="depth image topic (default: config's, else detected)")
    g.add_argument("--camera-info-topic", help="CameraInfo topic (default: config's, else detected)")
    g.add_argument("--sync-tolerance-ms", type=float, help="largest colour/depth stamp difference of a pair")
    g.add_argument("--storage", choices=["mcap", "sqlite3"], help="output bag storage (default: mcap)")
    g.add_argument("--ignore-manifest", action="store_true",
                   help="identify against the whole gallery even when the bag carries a tote manifest")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    g.set_defaults(func=_cmd_grasp)

    s = dsub.add_parser(
        "grasp-scene", parents=[common], help="write a rosbag2 of synthetic RGB-D tote scenes with ground truth",
        description="Generate RGB-D tote scenes with products from the identification fixture catalog at known "
        "poses and depth, and write them into a rosbag2 (colour rgb8, depth 16UC1, CameraInfo, ground-truth "
        "instance labels and object JSON). Use --references to place only products that have reference "
        "images, so `demo grasp` can identify them.")
    s.add_argument("--out", required=True, help="output rosbag2 folder")
    s.add_argument("--frames", type=int, default=8, help="number of frames (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="scene random seed (default: %(default)s)")
    s.add_argument("--references", help="place the products of these reference folders (fixture ids)")
    s.add_argument("--catalog-size", type=int, default=12, help="products in the catalog without --references")
    s.add_argument("--catalog-seed", type=int, default=0, help="seed of identification.fixture.make_catalog")
    s.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap", help="bag storage (default: mcap)")
    s.add_argument("--no-camera-info", action="store_true", help="leave CameraInfo out of the bag")
    s.add_argument("--config", help="YAML config (its scene section)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing bag folder")
    s.set_defaults(func=_cmd_grasp_scene)

    u = dsub.add_parser(
        "upscale", parents=[common], help="video -> STDO models -> mobile SR bundle -> playback and comparison",
        description="Run STDO on a video (videosr), export the chunk models as a mobile SR bundle (export), play "
        "the LR stream back through the bundle with onnxruntime only (export.player), and write a side-by-side "
        "comparison (bicubic | STDO | original) as OUT/comparison.mp4 and OUT/comparison.png plus the PSNR "
        "table in OUT/report.json. Defaults train the single and STDO models with the videosr CPU recipe; "
        "pass a videosr YAML with --config for other recipes.")
    u.add_argument("video", help="video file (mp4, mkv, ...) or a folder of frame images")
    u.add_argument("--out", required=True, help="output folder")
    u.add_argument("--config", help="videosr run config YAML (configs/videosr/*.yaml); flags override it")
    u.add_argument("--frames", type=int, help="number of frames to use (default: all)")
    u.add_argument("--start", type=int, help="first frame (default 0)")
    u.add_argument("--scale", type=int, choices=(2, 3, 4), help="upscaling factor (default 4)")
    u.add_argument("--chunks", type=int, help="STDO difficulty chunks (default 2)")
    u.add_argument("--steps", type=int, help="training steps of the general model")
    u.add_argument("--grid", help="patch grid ROWSxCOLS of the LR frame (default 4x4)")
    u.add_argument("--tile", help="bundle LR tile HxW (default: fitted to the frames, sides <= 128)")
    u.add_argument("--int8", action="store_true", help="also export INT8 models into the bundle")
    u.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    u.set_defaults(func=_cmd_upscale)
