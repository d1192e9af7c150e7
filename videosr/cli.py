"""``edgevision videosr ...``: STDO video super-resolution end to end, and a test-clip generator.

Only argparse/stdlib at module level; torch and the pipeline are imported inside the handlers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

RUN_DESCRIPTION = """\
Spatial-temporal data overfitting (STDO) on one video: decode VIDEO (any PyAV-readable file or a
folder of frames), make the LR input (MATLAB-like bicubic, or --lr-video, optionally H.264 re-encoded
with --lr-crf), train the general model M0, label every patch of the --grid by M0's PSNR, split the
patches into --chunks equal-count difficulty chunks (0 = hardest), train one model per chunk and the
baselines (single_long control, temporal segments, joint STDO model), reconstruct whole frames and
write the run folder OUT: report.json, config.yaml, lr/ frames, labels.bin, models/, plots/.

Budgets (--budget equal): M0 trains --steps N; each method started from M0 gets N more steps in total
(STDO N/k per chunk, temporal N/k per segment, joint N); single_long continues M0 for N steps.
Checkpoints are kept beside OUT while training: rerunning the same command resumes.
"""


def _kv(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    import yaml

    return key.strip(), yaml.safe_load(value)


def _methods(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _cmd_run(args: argparse.Namespace) -> int:
    from videosr.config import RunConfig
    from videosr.patches import parse_grid
    from vision.common.config import config_from_dict, config_to_dict, load_config

    cfg = load_config(args.config, RunConfig) if args.config else RunConfig()
    data = config_to_dict(cfg)
    data["video"] = str(args.video)
    for flag, key in (
        ("scale", "scale"), ("chunks", "chunks"), ("start", "start"), ("frames", "frames"), ("lr_crf", "lr_crf"),
        ("patch", "patch"), ("general_model", "general_model"), ("save_frames", "save_frames"),
        ("save_video", "save_video"), ("methods", "methods"),
    ):
        value = getattr(args, flag)
        if value is not None:
            data[key] = value
    if args.lr_video is not None:
        data["lr_video"] = str(args.lr_video)
    if args.grid is not None:
        data["grid"] = list(parse_grid(args.grid))
        data["patch"] = None
    elif args.patch is not None:
        data["grid"] = None
    if args.model is not None and args.model != data["model"]["name"]:
        data["model"] = {"name": args.model, "kwargs": {}}
    if args.features is not None:
        data["model"]["kwargs"]["features"] = args.features
        if data["model"]["name"] == "espcn":
            data["model"]["kwargs"]["mid_features"] = max(1, args.features // 2)
    for key, value in args.model_arg or []:
        data["model"]["kwargs"][key] = value
    for flag, key in (("steps", "steps"), ("budget", "budget"), ("seed", "seed"), ("threads", "threads")):
        value = getattr(args, flag)
        if value is not None:
            data["train"][key] = value
    if "bicubic" not in data["methods"]:
        data["methods"] = ["bicubic", *data["methods"]]
    cfg = config_from_dict(data, RunConfig, source=args.config or "command line")  # model options: run_stdo checks
    from videosr.pipeline import run_stdo
    from vision.common.progress import print_table

    report = run_stdo(cfg, args.out, overwrite=args.overwrite)
    rows = [
        (m, r["psnr_rgb"], r["psnr_y"], r["ssim"], r["steps"], r["train_seconds"], r["params"])
        for m, r in report["methods"].items()
    ]
    print_table(
        f"STDO x{report['scale']} on {report['frames']} frames {report['hr_size'][1]}x{report['hr_size'][0]}, "
        f"grid {report['grid'][0]}x{report['grid'][1]}, {report['chunks']} chunks",
        ["method", "PSNR RGB", "PSNR Y", "SSIM", "steps", "train s", "params"],
        rows,
    )
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from videosr.synthetic import write_clip
    from vision.common.atomic import check_can_write
    from vision.common.errors import UserError

    check_can_write(args.out, args.overwrite)
    w, _, h = args.size.partition("x")
    if not (w.isdigit() and h.isdigit()):
        raise UserError(f"--size must look like WIDTHxHEIGHT, got {args.size!r}")
    write_clip(args.out, frames=args.frames, height=int(h), width=int(w), seed=args.seed, fps=args.fps, crf=args.crf)
    print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``videosr run`` and ``videosr synth``."""
    p = sub.add_parser(
        "videosr",
        parents=[common],
        help="video super-resolution by spatial-temporal data overfitting (STDO)",
        description="Video super-resolution with small models overfit to one video (STDO), with baselines.",
    )
    vsub = p.add_subparsers(dest="videosr_command", metavar="SUBCOMMAND", title="subcommands")
    vsub.required = True

    r = vsub.add_parser(
        "run", parents=[common], help="STDO end to end on one video: train, evaluate, write a run folder",
        description=RUN_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("video", type=Path, help="video file (mp4, mkv, avi, webm, ...) or a folder of frame images")
    r.add_argument("--out", required=True, type=Path, help="run folder to create")
    r.add_argument("--config", help="YAML run config (configs/videosr/*.yaml); flags override it")
    r.add_argument("--scale", type=int, choices=(2, 3, 4), help="upscaling factor (default 4)")
    r.add_argument("--chunks", type=int, help="number of difficulty chunks k (default 2)")
    r.add_argument("--model", choices=("espcn", "edsr", "wdsr"), help="SR architecture (default espcn)")
    r.add_argument("--features", type=int, help="model width (ESPCN: first layer; its 3x3 layers get half)")
    r.add_argument("--model-arg", type=_kv, action="append", metavar="KEY=VALUE",
                   help="other architecture option, e.g. depth=2 or blocks=8 (repeatable)")
    r.add_argument("--steps", type=int, help="optimiser steps N of M0; other methods follow --budget")
    r.add_argument("--budget", choices=("equal", "per_model"), help="step budget of the methods started from M0")
    r.add_argument("--grid", help="patch grid ROWSxCOLS of the LR frame (default: chosen to divide the frame, patches of about 48 LR pixels)")
    r.add_argument("--patch", type=int, help="LR patch size in pixels instead of --grid")
    r.add_argument("--start", type=int, help="first frame to use (default 0)")
    r.add_argument("--frames", type=int, help="number of frames to use (default all)")
    r.add_argument("--lr-video", type=Path, help="use this video's frames as the LR input instead of bicubic")
    r.add_argument("--lr-crf", type=int, help="re-encode the LR frames with H.264 at this CRF (0-51)")
    r.add_argument("--general-model", help="state dict (.pt) or Lightning .ckpt of the model that labels patches")
    r.add_argument("--methods", type=_methods, help="comma list of methods to run (default all)")
    r.add_argument("--save-frames", type=_methods, metavar="METHOD[,METHOD]",
                   help="also write lossless PNG frames under OUT/frames/METHOD/")
    r.add_argument("--save-video", type=_methods, metavar="METHOD[,METHOD]",
                   help="methods written as OUT/video/METHOD.mp4 (default stdo)")
    r.add_argument("--seed", type=int, help="random seed (default 0)")
    r.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    r.set_defaults(func=_cmd_run)

    s = vsub.add_parser(
        "synth", parents=[common], help="write a camera-like test clip (H.264 mp4)",
        description="Render a textured scene filmed by a panning camera with moving objects, flat and "
        "detailed regions, and encode it with H.264.",
    )
    s.add_argument("out", type=Path, help="output video file (.mp4 or .mkv)")
    s.add_argument("--frames", type=int, default=30, help="number of frames (default %(default)s)")
    s.add_argument("--size", default="320x180", help="WIDTHxHEIGHT (default %(default)s)")
    s.add_argument("--fps", type=int, default=25, help="frame rate (default %(default)s)")
    s.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="scene seed (default %(default)s)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing file")
    s.set_defaults(func=_cmd_synth)
