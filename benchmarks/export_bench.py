"""Export benchmark: PyTorch eager FP32 vs ONNX Runtime FP32 vs ONNX Runtime INT8, and the SR bundle player.

Per model (batch 1, static shapes, ``--threads`` threads for torch and onnxruntime alike): median latency,
p90 and sequential throughput, plus the ratios ``ort_fp32_speedup`` (torch / ORT FP32) and
``int8_speedup`` (ORT FP32 / ORT INT8), and the accuracy of each export (max abs error vs torch; INT8 PSNR
vs FP32 for SR, embedding cosine for the embedder). Models:

- ``sr``: the videosr run's first stdo chunk model on one LR tile (``--tile``, default 128x128);
- ``embedder``: ``identification.model.build_embedder(--backbone)`` at ``--img-size`` (random weights:
  timing does not depend on them; its INT8 cosine is only indicative);
- ``sam_decoder``: SAM ViT-B's prompt decoder (random weights) with 2 points on a 64x64 embedding;
  ``--sam-encoder`` adds the ViT-B image encoder at 1x3x1024x1024 (minutes on 2 cores).

Then the bundle player: the run's LR frames (320x180 by default -> 1280x720 at x4) played through the
bundle (FP32 and INT8), frames per second end to end and model-only, PSNR of the played frames vs HR,
and the baseline in the same run: PyTorch eager whole-frame STDO reconstruction (``videosr.reconstruct``).

Without ``--run`` a run folder is made first with ``videosr.pipeline.run_stdo`` on the synthetic
camera clip (1280x720 HR, ``--frames`` frames, CPU-sized training of ``--train-steps`` steps).

    python benchmarks/export_bench.py --out export_bench.json
    python benchmarks/export_bench.py --run RUN_DIR --out export_bench.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def time_calls(fn: Callable[[], Any], iters: int, warmup: int = 2) -> dict[str, float]:
    """Median/p90 latency (ms) and sequential throughput (calls/s) of ``fn`` over ``iters`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    times.sort()
    return {
        "latency_ms": 1000 * statistics.median(times),
        "latency_p90_ms": 1000 * times[min(len(times) - 1, int(0.9 * len(times)))],
        "throughput_per_s": iters / total,
    }


def bench_model(
    name: str,
    model: Any,
    inputs: tuple[Any, ...],
    input_names: list[str],
    output_names: list[str],
    family: str,
    calibration: np.ndarray | None,
    workdir: Path,
    threads: int,
    iters: int,
    kind: str,
) -> dict[str, Any]:
    """Time one model in torch eager, ORT FP32 and (if ``calibration``) ORT INT8; accuracy of each export."""
    import onnx
    import torch

    from export.onnx import export_onnx, save_checked
    from export.parity import psnr
    from export.pixelshuffle import convert_depth_to_space_dcr
    from export.quantize import embedding_quantization_cost, quantize_onnx
    from export.runtime import make_session

    torch.set_num_threads(threads)
    model = model.eval()

    def torch_call() -> None:
        with torch.no_grad():
            model(*inputs)

    torch_timing = time_calls(torch_call, iters)  # first, before any onnxruntime thread pool exists
    with torch.no_grad():
        ref = model(*inputs)
    ref_list = [t.numpy() for t in (ref if isinstance(ref, tuple | list) else (ref,))]
    path = export_onnx(model, inputs, workdir / f"{name}_fp32.onnx", family, input_names, output_names, overwrite=True)
    if family == "sr":
        dcr, _ = convert_depth_to_space_dcr(onnx.load(str(path)))
        save_checked(dcr, path, overwrite=True)
    feeds = {n: t.numpy() for n, t in zip(input_names, inputs, strict=True)}
    fp32 = make_session(path, threads)
    out32 = fp32.run(None, feeds)
    result: dict[str, Any] = {"input_shapes": {n: list(v.shape) for n, v in feeds.items()}}
    result["torch_fp32"] = torch_timing
    result["ort_fp32"] = time_calls(lambda: fp32.run(None, feeds), iters)
    result["ort_fp32"]["max_abs_error_vs_torch"] = max(float(np.abs(a - b).max()) for a, b in zip(ref_list, out32, strict=True))
    result["ort_fp32_speedup"] = result["torch_fp32"]["latency_ms"] / result["ort_fp32"]["latency_ms"]
    if calibration is not None:
        qpath = quantize_onnx(path, workdir / f"{name}_int8.onnx", calibration, input_names[0], overwrite=True)
        int8 = make_session(qpath, threads)
        out8 = int8.run(None, feeds)
        result["ort_int8"] = time_calls(lambda: int8.run(None, feeds), iters)
        result["int8_speedup"] = result["ort_fp32"]["latency_ms"] / result["ort_int8"]["latency_ms"]
        result["int8_vs_torch_speedup"] = result["torch_fp32"]["latency_ms"] / result["ort_int8"]["latency_ms"]
        if kind == "image":
            result["ort_int8"]["psnr_vs_fp32_db"] = psnr(np.clip(out32[0], 0, 1), np.clip(out8[0], 0, 1))
        elif kind == "embedding":
            result["ort_int8"]["cosine_vs_fp32"] = embedding_quantization_cost(out32[0], out8[0])["cosine_mean"]
    return result


def make_run(clip_dir: Path, run_dir: Path, frames: int, steps: int, threads: int) -> Path:
    """A videosr run folder on the synthetic camera clip (HR 1280x720, x4 -> LR 320x180)."""
    from videosr.config import RunConfig, TrainConfig
    from videosr.pipeline import run_stdo
    from videosr.synthetic import write_clip

    clip = write_clip(clip_dir / "clip.mp4", frames=frames, height=720, width=1280, seed=0)
    cfg = RunConfig(
        video=str(clip), scale=4, chunks=2, methods=["single", "stdo"], train=TrainConfig(steps=steps, threads=threads)
    )
    run_stdo(cfg, run_dir)
    return run_dir


def bench_player(run_dir: Path, workdir: Path, tile: tuple[int, int] | None, threads: int) -> dict[str, Any]:
    """Bundle (FP32 + INT8) from the run; play it; PSNR vs HR; torch eager whole-frame STDO baseline."""
    import cv2
    import torch

    from export.bundle import SRBundleOptions, build_sr_bundle
    from export.parity import psnr
    from export.player import play_bundle
    from videosr.metadata import read_label_map
    from videosr.reconstruct import reconstruct
    from videosr.run_folder import load_run, load_sr_model

    run = load_run(run_dir)
    bundle = workdir / "bundle"
    t0 = time.perf_counter()
    options = SRBundleOptions(methods=("stdo",), tile=tile, int8=True, max_psnr_drop_db=float("inf"),
                             min_int8_psnr_vs_fp32_db=-float("inf"), threads=threads)  # measure, do not gate
    manifest = build_sr_bundle(run.root, bundle, options, overwrite=True)
    build_seconds = time.perf_counter() - t0
    hr = [cv2.imread(str(p), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255 for p in run.hr_frames()]
    lr = [cv2.imread(str(p), cv2.IMREAD_COLOR)[..., ::-1].copy() for p in run.lr_frames()]
    result: dict[str, Any] = {
        "lr_size": list(lr[0].shape[:2]),
        "frames": len(lr),
        "tile": manifest["tile"],
        "overlap": manifest["overlap"],
        "bundle_build_seconds": build_seconds,
        "run_report_psnr_stdo": manifest["psnr"].get("stdo"),
        "int8_tile_cost": manifest["quantization"]["cost"],
    }
    for precision in ("fp32", "int8"):
        frames_dir = workdir / f"played_{precision}"
        rep = play_bundle(bundle, run.lr_dir, workdir / f"{precision}.mp4", save_frames=frames_dir, precision=precision, threads=threads, overwrite=True)
        played = [cv2.imread(str(p), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255 for p in sorted(frames_dir.glob("*.png"))]
        result[f"player_{precision}"] = {
            "fps": rep["fps"],
            "model_fps": rep["model_fps"],
            "psnr_vs_hr_db": float(np.mean([psnr(a, b) for a, b in zip(played, hr, strict=True)])) if hr else None,
        }
    torch.set_num_threads(threads)
    models = [load_sr_model(run, "stdo", c) for c in range(run.chunks)]
    labels = read_label_map(run.label_map_path).labels
    reconstruct(models, labels[:1], lr[:1], run.grid)  # warm-up
    t0 = time.perf_counter()
    out = reconstruct(models, labels, lr, run.grid)
    seconds = time.perf_counter() - t0
    result["torch_eager_stdo"] = {
        "fps": len(lr) / seconds,
        "psnr_vs_hr_db": float(np.mean([psnr(a.astype(np.float32) / 255, b) for a, b in zip(out, hr, strict=True)])) if hr else None,
    }
    p32, p8 = result["player_fp32"], result["player_int8"]
    result["ratios"] = {
        "player_fp32_model_fps_vs_torch": p32["model_fps"] / result["torch_eager_stdo"]["fps"],
        "player_int8_model_fps_vs_fp32": p8["model_fps"] / p32["model_fps"],
        "int8_psnr_drop_db": None if p32["psnr_vs_hr_db"] is None else p32["psnr_vs_hr_db"] - p8["psnr_vs_hr_db"],
    }
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=None, help="videosr run folder (default: make one on the synthetic clip)")
    parser.add_argument("--frames", type=int, default=8, help="frames of the synthetic clip when no --run is given")
    parser.add_argument("--train-steps", type=int, default=200, help="training steps of the synthetic run")
    parser.add_argument("--tile", type=int, nargs=2, default=None, metavar=("H", "W"), help="LR tile (default: fit the frames)")
    parser.add_argument("--save-run", type=Path, default=None, help="keep the synthetic run folder here (reuse with --run)")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and onnxruntime")
    parser.add_argument("--iters", type=int, default=20, help="timed calls per model and runtime")
    parser.add_argument("--backbone", default="resnet18", help="embedder backbone (timm name)")
    parser.add_argument("--img-size", type=int, default=224, help="embedder input side")
    parser.add_argument("--sam-encoder", action="store_true", help="also time SAM ViT-B's 1024x1024 image encoder (slow)")
    parser.add_argument("--out", type=Path, default=Path("export_bench.json"), help="JSON report")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report")
    args = parser.parse_args(argv)
    from vision.common.atomic import check_can_write

    check_can_write(args.out, args.overwrite)  # before minutes of timing, not after

    import torch

    from export.sam import SamDecoderOnnx, SamEncoderOnnx, decoder_example_inputs
    from identification.model import build_embedder
    from videosr.run_folder import load_run, load_sr_model
    from vision.common.atomic import write_json_atomic
    from vision.common.runinfo import machine_info

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    report: dict[str, Any] = {"machine_info": machine_info(("torch", "onnx", "onnxruntime", "coremltools", "numpy")), "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="export_bench_") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        if args.run is not None:
            run_dir = args.run
        else:
            run_dir = make_run(tmp, args.save_run or tmp / "run", args.frames, args.train_steps, args.threads)
        report["run"] = {"path": str(args.run) if args.run else "synthetic", "seconds_to_make": time.perf_counter() - t0}
        run = load_run(run_dir)
        report["player"] = bench_player(run_dir, tmp, tuple(args.tile) if args.tile else None, args.threads)
        th, tw = report["player"]["tile"]
        from export.player import iter_frames
        from export.quantize import sr_calibration_tiles

        lr_frames = list(iter_frames(run.lr_dir))
        calib = sr_calibration_tiles(lr_frames, (th, tw), 17, 0)
        sr = load_sr_model(run, "stdo", 0)
        models: dict[str, Any] = {}
        # the measured input (tile 0) is held out of the INT8 calibration (tiles 1..16)
        models["sr"] = bench_model(
            "sr", sr, (torch.from_numpy(calib[:1].copy()),), ["lr"], ["hr"], "sr", calib[1:], tmp, args.threads, args.iters, "image"
        )
        models["sr"]["arch"] = {"name": run.arch, **run.arch_kwargs, "scale": run.scale}
        emb = build_embedder(args.backbone, embed_dim=128, img_size=args.img_size).eval()
        h, w = emb.input_size
        emb_calib = rng.random((9, 3, h, w), dtype=np.float32)
        models["embedder"] = bench_model(  # measured on sample 0, calibrated on samples 1..8
            "embedder", emb, (torch.from_numpy(emb_calib[:1].copy()),), ["image"], ["embedding"], "embedder", emb_calib[1:], tmp,
            args.threads, args.iters, "embedding",
        )  # fmt: skip
        models["embedder"]["backbone"] = args.backbone
        from segment_anything import sam_model_registry

        sam = sam_model_registry["vit_b"]().eval()
        dec_inputs = decoder_example_inputs(sam, points=2)
        models["sam_decoder"] = bench_model(
            "sam_decoder", SamDecoderOnnx(sam), dec_inputs,
            ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"],
            ["low_res_masks", "iou_predictions"], "sam_decoder", None, tmp, args.threads, args.iters, "masks",
        )  # fmt: skip
        if args.sam_encoder:
            image = torch.rand(1, 3, 1024, 1024) * 255
            models["sam_encoder_vit_b"] = bench_model(
                "sam_encoder", SamEncoderOnnx(sam), (image,), ["image"], ["image_embeddings"], "sam_encoder", None, tmp,
                args.threads, max(3, args.iters // 5), "embedding",
            )  # fmt: skip
        report["models"] = models
    write_json_atomic(args.out, report, overwrite=args.overwrite)
    rows = []
    for name, m in models.items():
        rows.append(
            f"{name:18s} torch {m['torch_fp32']['latency_ms']:8.2f} ms | ORT fp32 {m['ort_fp32']['latency_ms']:8.2f} ms "
            f"(x{m['ort_fp32_speedup']:.2f}) | ORT int8 "
            + (f"{m['ort_int8']['latency_ms']:8.2f} ms (x{m['int8_speedup']:.2f} vs fp32)" if "ort_int8" in m else "   n/a")
        )
    p = report["player"]
    rows.append(
        f"player {p['lr_size']} x{run.scale}: fp32 {p['player_fp32']['fps']:.2f} fps (model {p['player_fp32']['model_fps']:.2f}), "
        f"int8 {p['player_int8']['fps']:.2f} fps (model {p['player_int8']['model_fps']:.2f}), "
        f"torch eager {p['torch_eager_stdo']['fps']:.2f} fps; INT8 PSNR drop {p['ratios']['int8_psnr_drop_db']}"
    )
    print("\n".join(rows))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
