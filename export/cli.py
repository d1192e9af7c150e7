"""``edgevision export sr|embedder|sam`` and ``edgevision play``: on-device files with parity proof.

Module level imports only argparse/stdlib (``edgevision --help`` stays fast); handlers import the rest.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from export.bundle import SRBundleOptions


def _tile(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().replace("x", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"tile must look like 128x128, got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"tile must look like 128x128, got {text!r}")
    return parts[0], parts[1]


def _csv(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


#: ``export sr`` flags that set an :class:`export.bundle.SRBundleOptions` field (dest == field name).
SR_OPTION_FLAGS = (
    "formats", "methods", "tile", "max_tile_side", "overlap", "int8", "quant_preset", "per_channel", "calibrate_method",
    "calibration_tiles", "validation_tiles", "max_psnr_drop_db", "min_int8_psnr_vs_fp32_db", "coreml_compression",
    "parity_tiles", "threads", "seed",
)


def sr_options_from_args(args: argparse.Namespace) -> SRBundleOptions:
    """SRBundleOptions from ``--config FILE`` (strict typed YAML) with the given flags overriding it."""
    from export.bundle import SRBundleOptions
    from vision.common.config import config_from_dict, load_config

    flags = {name: getattr(args, name) for name in SR_OPTION_FLAGS if hasattr(args, name)}
    if args.config is not None:
        return load_config(args.config, SRBundleOptions, overrides=flags)
    return config_from_dict(flags, SRBundleOptions, source="command line")


def _cmd_export_sr(args: argparse.Namespace) -> int:
    from export.bundle import build_sr_bundle
    from vision.common.progress import print_table

    options = sr_options_from_args(args)
    manifest = build_sr_bundle(args.run, args.out, options, overwrite=args.overwrite)
    parity = {p["name"].split(" ")[0]: p for p in manifest["parity"]}
    cost = (manifest.get("quantization") or {}).get("cost", {})
    rows = []
    for entry in manifest["models"]:
        stem = f"{entry['method']}_{entry['chunk']}"
        extra = ""
        if entry["precision"] == "fp32":
            extra = f"max|err| {parity[stem]['max_abs_error']:.2e}"
        elif stem in cost:
            c = cost[stem]
            extra = f"PSNR vs fp32 {c['psnr_int8_vs_fp32']:.2f} dB"
            if c["psnr_drop_db"] is not None:
                extra += f", drop {c['psnr_drop_db']:.3f} dB"
        rows.append([entry["method"], entry["chunk"], entry["precision"], entry["onnx"], entry["coreml"] or "-", entry["bytes"], extra])
    print_table(f"SR bundle {args.out}", ["method", "chunk", "precision", "onnx", "coreml", "bytes", "check"], rows)
    return 0


def _cmd_export_embedder(args: argparse.Namespace) -> int:
    from export.embedder import export_embedder_from_checkpoint

    report = export_embedder_from_checkpoint(
        args.checkpoint,
        args.out,
        formats=args.formats,
        int8=args.int8,
        calibration=args.calibration,
        quant_preset=args.quant_preset,
        per_channel=not args.per_tensor,
        coreml_compression=args.coreml_compression,
        overwrite=args.overwrite,
    )
    print(f"wrote {args.out}: {', '.join(sorted(report['files']))}")
    parity = report["parity"]
    print(f"FP32 ONNX vs PyTorch max abs error {parity['max_abs_error']:.2e}")
    if report.get("int8"):
        cost = report["int8"]["cost"]
        print(f"INT8 embedding cosine to FP32: mean {cost['cosine_mean']:.4f}, min {cost['cosine_min']:.4f}")
    return 0


def _cmd_export_sam(args: argparse.Namespace) -> int:
    from export.sam import export_sam

    report = export_sam(
        args.out, checkpoint=args.checkpoint, model_type=args.model_type, tiny=args.tiny, points=args.points, overwrite=args.overwrite,
        verify=not args.no_verify,
    )
    for name, p in report["parity"].items():
        print(f"{name}: max abs error vs PyTorch {p['max_abs_error']:.2e}")
    print(f"wrote {args.out}")
    return 0


def add_play_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``play`` options (shared by ``edgevision play`` and ``python -m export.player``)."""
    parser.add_argument("--bundle", required=True, type=Path, help="SR bundle folder (from `edgevision export sr`)")
    parser.add_argument("--lr", required=True, type=Path, help="LR video file or folder of frames (e.g. RUN/lr)")
    parser.add_argument("--out", required=True, type=Path, help="HR video to write (.mp4); a .json report goes beside it")
    parser.add_argument("--save-frames", type=Path, default=None, help="also write lossless HR PNG frames to this folder")
    parser.add_argument("--method", default=None, help="method to play (default: the bundle's main method)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "int8"), help="model precision")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the written video")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def _cmd_play(args: argparse.Namespace) -> int:
    from export.player import cmd_play

    return cmd_play(args)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``export`` (with ``sr``, ``embedder``, ``sam``) and ``play`` to the ``edgevision`` parser."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    export = sub.add_parser(
        "export",
        parents=[common],
        help="export models to ONNX / Core ML / INT8 for on-device NPUs, with parity checks",
        description=(
            "Export models to static-shape ONNX (and Core ML, INT8) for phones and robot NPUs. Every export "
            "runs the same inputs through PyTorch and ONNX Runtime and fails if they disagree."
        ),
    )
    esub = export.add_subparsers(dest="export_command", metavar="MODEL", title="models")
    esub.required = True

    sr = esub.add_parser(
        "sr",
        parents=[common],
        formatter_class=fmt,
        help="mobile SR bundle from a videosr run folder",
        description=(
            "Export the chunk models of a videosr run folder as fixed-tile ONNX models (DCR PixelShuffle for "
            "NNAPI), optionally INT8 and Core ML, with the label map and a manifest.json holding SHA-256 "
            "hashes. Play it with `edgevision play`."
        ),
    )
    sr.add_argument("--run", required=True, type=Path, help="videosr run folder (from `edgevision videosr run`)")
    sr.add_argument("--out", required=True, type=Path, help="bundle folder to write")
    sr.add_argument(
        "--config", type=Path, default=None,
        help="typed YAML of the export options (configs/export/sr-bundle.yaml lists every key); flags override it",
    )
    opt = sr.add_argument_group("export options (default: the --config file, else the value shown)")
    unset = argparse.SUPPRESS  # a flag not given leaves the --config value (or the default) in place
    opt.add_argument("--formats", type=_csv, default=unset, help="comma list of onnx,coreml (ONNX is always written) [onnx]")
    opt.add_argument("--methods", type=_csv, default=unset, help="comma list of run methods; the first is played by default [stdo]")
    opt.add_argument("--tile", type=_tile, default=unset, help="LR tile HxW the models are compiled for [fit the frames]")
    opt.add_argument("--max-tile-side", type=int, default=unset, help="largest automatic tile side (LR pixels) [128]")
    opt.add_argument("--overlap", type=int, default=unset, help="LR context pixels per tile side [receptive-field bound]")
    opt.add_argument("--int8", action=argparse.BooleanOptionalAction, default=unset,
                     help="also write INT8 QDQ models calibrated on the video's LR tiles [no]")
    opt.add_argument("--quant-preset", default=unset, choices=("cpu", "qnn_u8", "qnn_u16"), help="INT8 preset [cpu]")
    opt.add_argument("--per-channel", dest="per_channel", action="store_true", default=unset,
                     help="per-channel weight scales [yes]")
    opt.add_argument("--per-tensor", dest="per_channel", action="store_false", default=unset,
                     help="per-tensor weight scales instead of per-channel")
    opt.add_argument("--calibrate-method", default=unset, choices=("minmax", "percentile", "entropy"), help="calibration [minmax]")
    opt.add_argument("--calibration-tiles", type=int, default=unset, help="LR tiles used to calibrate each INT8 model [16]")
    opt.add_argument("--validation-tiles", type=int, default=unset, help="LR tiles the INT8 cost is measured on [8]")
    opt.add_argument("--max-psnr-drop", dest="max_psnr_drop_db", type=float, default=unset,
                     help="fail if INT8 loses more PSNR (dB) vs HR [0.5]")
    opt.add_argument("--min-int8-psnr-vs-fp32", dest="min_int8_psnr_vs_fp32_db", type=float, default=unset,
                     help="when the run kept no HR frames: fail if INT8 output is fewer dB PSNR from the FP32 output [40]")
    opt.add_argument("--coreml-compression", default=unset, choices=("none", "int8", "palettize8"), help="Core ML weights [none]")
    opt.add_argument("--parity-tiles", type=int, default=unset, help="LR tiles per model of the FP32 parity check [8]")
    opt.add_argument("--threads", type=int, default=unset, help="onnxruntime threads for checks [2]")
    opt.add_argument("--seed", type=int, default=unset, help="tile sampling seed [0]")
    sr.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    sr.set_defaults(func=_cmd_export_sr)

    emb = esub.add_parser(
        "embedder",
        parents=[common],
        formatter_class=fmt,
        help="identification embedder to ONNX (+ INT8, Core ML)",
        description=(
            "Export an identification embedder checkpoint at its fixed input size (batch 1) to ONNX, "
            "optionally INT8 (calibrated on your reference images) and Core ML, with parity and cost reports."
        ),
    )
    emb.add_argument("--checkpoint", required=True, type=Path, help="embedder checkpoint (identification)")
    emb.add_argument("--out", required=True, type=Path, help="output folder")
    emb.add_argument("--formats", type=_csv, default=("onnx",), help="comma list of onnx,coreml")
    emb.add_argument("--int8", action="store_true", help="also write an INT8 QDQ model")
    emb.add_argument("--calibration", type=Path, default=None, help="folder of reference images (needed with --int8)")
    emb.add_argument("--quant-preset", default="cpu", choices=("cpu", "qnn_u8", "qnn_u16"), help="INT8 preset")
    emb.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales instead of per-channel")
    emb.add_argument("--coreml-compression", default="none", choices=("none", "int8", "palettize8"), help="Core ML weights")
    emb.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    emb.set_defaults(func=_cmd_export_embedder)

    sam = esub.add_parser(
        "sam",
        parents=[common],
        formatter_class=fmt,
        help="SAM image encoder (1x3x1024x1024) and prompt decoder (fixed point count) to ONNX",
        description=(
            "Export SAM's image encoder at the fixed 1x3x1024x1024 input and its prompt decoder with a fixed "
            "number of points and no resize inside the graph. Use --tiny for a random tiny SAM (testing)."
        ),
    )
    src = sam.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="segment_anything checkpoint (.pth)")
    src.add_argument("--tiny", action="store_true", help="random tiny SAM (no weights needed)")
    sam.add_argument("--model-type", default="vit_b", choices=("vit_b", "vit_l", "vit_h"), help="SAM variant of --checkpoint")
    sam.add_argument("--no-verify", action="store_true", help="skip the SHA-256 check (fine-tuned SAM checkpoints)")
    sam.add_argument("--points", type=int, default=2, help="fixed number of prompt points (pad with label -1)")
    sam.add_argument("--out", required=True, type=Path, help="output folder")
    sam.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    sam.set_defaults(func=_cmd_export_sam)

    play = sub.add_parser(
        "play",
        parents=[common],
        formatter_class=fmt,
        help="play an LR video through a mobile SR bundle (onnxruntime only)",
        description=(
            "Reconstruct the HR video from LR frames with an SR bundle using onnxruntime and numpy only "
            "(no torch), checking the bundle's SHA-256 hashes first; reports frames per second and writes "
            "a JSON report beside the output video."
        ),
    )
    add_play_arguments(play)
    play.set_defaults(func=_cmd_play)
