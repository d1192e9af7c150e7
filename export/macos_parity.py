"""Core ML vs ONNX Runtime parity, for a Mac user (Core ML predicts only on macOS).

Usage on a Mac with ``pip install coremltools onnxruntime numpy``::

    python -m export.macos_parity --bundle BUNDLE            # every model with both formats
    python -m export.macos_parity --mlpackage M.mlpackage --onnx M.onnx

Feeds the same random inputs in [0, 1] (the models' documented input range) to both and prints the max
abs error and PSNR per model, writing ``macos_parity.json`` beside the bundle (or ``--report``). The
Core ML side runs at FP16, so the default tolerance is 1e-2 (max abs error on [0, 1] images).
This file imports neither torch nor the rest of the project apart from the numpy-only helpers.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from export.parity import psnr

COREML_FP16_ATOL = 1e-2


def compare_models(
    coreml_predict: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    onnx_run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    input_shapes: dict[str, tuple[int, ...]],
    trials: int = 3,
    seed: int = 0,
    tolerance: float = COREML_FP16_ATOL,
) -> dict[str, Any]:
    """Run ``trials`` random inputs through both predictors; max abs error and PSNR per output name."""
    rng = np.random.default_rng(seed)
    worst: dict[str, float] = {}
    psnrs: dict[str, list[float]] = {}
    for _ in range(trials):
        feeds = {n: rng.random(s, dtype=np.float32) for n, s in input_shapes.items()}
        ref = onnx_run(feeds)
        got = coreml_predict(feeds)
        for name, value in ref.items():
            if name not in got:
                raise KeyError(f"Core ML model has no output {name!r} (has {sorted(got)})")
            cand = np.asarray(got[name], dtype=np.float32).reshape(value.shape)
            worst[name] = max(worst.get(name, 0.0), float(np.abs(cand - value).max()))
            psnrs.setdefault(name, []).append(psnr(np.clip(value, 0, 1), np.clip(cand, 0, 1)))
    max_err = max(worst.values()) if worst else 0.0
    return {
        "max_abs_error": max_err,
        "per_output": worst,
        "psnr_db": {k: float(min(v)) for k, v in psnrs.items()},
        "tolerance": tolerance,
        "passed": bool(max_err <= tolerance),
    }


def _pairs_from_bundle(bundle: Path) -> list[tuple[str, Path, Path]]:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return [
        (f"{m['method']}/chunk{m['chunk']}/{m['precision']}", bundle / m["coreml"], bundle / m["onnx"])
        for m in manifest["models"]
        if m.get("coreml")
    ]


def _predictors(mlpackage: Path, onnx_path: Path) -> tuple[Callable, Callable, dict[str, tuple[int, ...]]]:
    import coremltools as ct
    import onnxruntime as ort

    mlmodel = ct.models.MLModel(str(mlpackage))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    shapes = {i.name: tuple(int(d) for d in i.shape) for i in session.get_inputs()}

    def run_onnx(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(None, feeds), strict=True))

    return mlmodel.predict, run_onnx, shapes


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: exit 0 when every model is within tolerance, 1 otherwise, 2 on misuse."""
    parser = argparse.ArgumentParser(prog="python -m export.macos_parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="SR bundle folder (compares every model with a .mlpackage)")
    parser.add_argument("--mlpackage", type=Path, help="one Core ML package")
    parser.add_argument("--onnx", type=Path, help="the ONNX model it was exported beside")
    parser.add_argument("--trials", type=int, default=3, help="random inputs per model (default 3)")
    parser.add_argument("--tolerance", type=float, default=COREML_FP16_ATOL, help="max abs error allowed")
    parser.add_argument("--report", type=Path, default=None, help="JSON report path")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report")
    args = parser.parse_args(argv)
    if args.bundle is not None:
        if not (args.bundle / "manifest.json").is_file():
            print(f"error: {args.bundle}: not an SR bundle (no manifest.json)", file=sys.stderr)
            return 2
        pairs = _pairs_from_bundle(args.bundle)
        report_path = args.report or args.bundle.parent / f"{args.bundle.name}.macos_parity.json"
    elif args.mlpackage is not None and args.onnx is not None:
        pairs = [(args.mlpackage.name, args.mlpackage, args.onnx)]
        report_path = args.report or args.mlpackage.with_suffix(".macos_parity.json")
    else:
        print("error: give --bundle, or --mlpackage with --onnx", file=sys.stderr)
        return 2
    if report_path.exists() and not args.overwrite:
        print(f"error: {report_path}: already exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    if platform.system() != "Darwin":
        print("error: Core ML predictions run only on macOS; copy the bundle to a Mac and run this there", file=sys.stderr)
        return 2
    if not pairs:
        print("error: nothing to compare (no Core ML packages listed)", file=sys.stderr)
        return 2
    results = {}
    for name, mlpackage, onnx_path in pairs:
        coreml_predict, run_onnx, shapes = _predictors(mlpackage, onnx_path)
        results[name] = compare_models(coreml_predict, run_onnx, shapes, args.trials, tolerance=args.tolerance)
        r = results[name]
        print(f"{name}: max abs error {r['max_abs_error']:.3g}, PSNR {r['psnr_db']} ({'ok' if r['passed'] else 'FAIL'})")
    tmp = report_path.with_name(f".{report_path.name}.partial")
    tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    tmp.replace(report_path)  # atomic: a crash never leaves a half-written report
    return 0 if all(r["passed"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
