"""Identification embedder export: static (1, 3, H, W) ONNX, optional INT8 and Core ML, with parity.

Input ``image``: (1, 3, H, W) float32 RGB in [0, 1] at ``model.input_size`` (normalisation is inside the
graph); output ``embedding``: (1, D) float32 with unit L2 norm. Batch 1 is the on-device case (one crop at
a time from the segmenter); a fixed batch keeps the graph static for NPUs.

Output folder::

    OUT/embedder_fp32.onnx, OUT/embedder_int8.onnx (--int8), OUT/embedder_fp16.mlpackage (coreml),
    OUT/report.json   (input size, embed dim, parity, INT8 cost, Core ML spec, sha256 per file)

INT8 calibration uses the user's reference images (a folder; sub-folder names are taken as product
labels, which also gives recall@1 of FP32 vs INT8 embeddings in the report). A quarter of each product's
images (at least one per product with two or more) is held out of calibration
(:func:`export.quantize.holdout_split`); the INT8 cost is measured on those: cosine to FP32, and recall@1
of the held-out images as queries against the calibration images as gallery, each model with its own
embeddings.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from export.parity import FP32_ATOL
from export.player import IMAGE_SUFFIXES
from vision.common.atomic import atomic_dir, write_json_atomic
from vision.common.errors import UserError, require_dir
from vision.common.runinfo import sha256_file

if TYPE_CHECKING:
    import torch


def load_images(folder: str | os.PathLike[str], limit: int | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
    """RGB uint8 images under ``folder`` (recursively, sorted) and their labels (first sub-folder name).

    Returns ``(images, labels)``; labels is None when all images sit directly in ``folder``.
    With ``limit``, the files are picked evenly across the sorted list (not its first ``limit``), so
    every product folder contributes to calibration and to the recall of the INT8 cost.
    Unreadable files are skipped (the count is logged by the caller through the returned length).
    """
    import cv2

    root = require_dir(folder, "calibration image folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    images, labels = [], []
    if limit and len(files) > limit:
        files = [files[i] for i in np.linspace(0, len(files) - 1, limit).round().astype(int)]
    for f in files:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        images.append(np.ascontiguousarray(bgr[..., ::-1]))
        rel = f.relative_to(root).parts
        labels.append(rel[0] if len(rel) > 1 else "")
    if not images:
        raise UserError("no readable images", root)
    lab = np.array(labels)
    return images, (lab if any(labels) else None)


def preprocess(images: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """Resize RGB uint8 images to ``size`` (H, W) with area interpolation -> (N, 3, H, W) float32 in [0, 1]."""
    import cv2

    h, w = size
    out = [cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if img.shape[0] >= h else cv2.INTER_LINEAR) for img in images]
    return np.stack(out).transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def export_embedder(
    model: torch.nn.Module,
    out: str | os.PathLike[str],
    input_size: tuple[int, int],
    formats: tuple[str, ...] = ("onnx",),
    int8: bool = False,
    calibration_images: list[np.ndarray] | None = None,
    labels: np.ndarray | None = None,
    quant_preset: str = "cpu",
    per_channel: bool = True,
    coreml_compression: str = "none",
    parity_atol: float = FP32_ATOL,
    source: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export an embedder (``(B,3,H,W) [0,1] -> (B,D)`` unit-norm) into the folder ``out``; returns the report."""
    import torch

    from export.coreml import convert_to_mlpackage, validate_mlpackage
    from export.onnx import export_onnx, io_shapes, op_counts
    from export.parity import check_parity
    from export.quantize import embedding_quantization_cost, holdout_split, quantize_onnx
    from export.runtime import make_session

    bad = [f for f in formats if f not in ("onnx", "coreml")]
    if bad:
        raise UserError(f"unsupported export format(s) {bad} for the embedder; choose from onnx, coreml")
    if int8 and not calibration_images:
        raise UserError("--int8 needs calibration images (--calibration FOLDER of reference images)")
    model = model.eval().float()
    h, w = input_size
    gen = torch.Generator().manual_seed(0)
    example = torch.rand(1, 3, h, w, generator=gen)
    checks = torch.rand(2, 1, 3, h, w, generator=gen)
    report: dict[str, Any] = {"source": source, "input_size": [h, w], "input_name": "image", "output_name": "embedding"}
    with atomic_dir(out, overwrite) as tmp:
        fp32 = export_onnx(model, (example,), tmp / "embedder_fp32.onnx", "embedder", ["image"], ["embedding"])
        parity = [
            check_parity(model, fp32, (x,), ["image"], ["embedding"], tolerance=parity_atol, name="embedder fp32")
            for x in checks
        ]
        worst = max(parity, key=lambda p: p.max_abs_error)
        report["parity"] = worst.to_dict()
        report["onnx"] = {"io": io_shapes(fp32), "op_counts": op_counts(fp32)}
        report["embed_dim"] = int(report["onnx"]["io"]["outputs"]["embedding"][-1])
        if int8:
            assert calibration_images is not None
            data = preprocess(calibration_images, (h, w))
            calib_idx, held_idx = holdout_split(labels, len(data))
            q = quantize_onnx(
                fp32, tmp / "embedder_int8.onnx", data[calib_idx], "image", preset=quant_preset, per_channel=per_channel
            )
            s32, s8 = make_session(fp32), make_session(q)
            e32 = np.concatenate([s32.run(None, {"image": x[None]})[0] for x in data])
            e8 = np.concatenate([s8.run(None, {"image": x[None]})[0] for x in data])
            gallery = None if labels is None else (e32[calib_idx], e8[calib_idx], labels[calib_idx])
            report["int8"] = {
                "preset": quant_preset,
                "per_channel": per_channel,
                "calibration_images": len(calib_idx),
                "holdout_images": len(held_idx),
                "calibration_indices": calib_idx.tolist(),
                "holdout_indices": held_idx.tolist(),
                "cost_on": "held-out images (recall@1: held-out queries vs calibration-image gallery)",
                "cost": embedding_quantization_cost(
                    e32[held_idx], e8[held_idx], None if labels is None else labels[held_idx], gallery
                ),
            }
        if "coreml" in formats:
            pkg = convert_to_mlpackage(
                model, (example,), tmp / "embedder_fp16.mlpackage", ["image"], ["embedding"], compression=coreml_compression
            )
            report["coreml"] = validate_mlpackage(
                pkg, {"image": (1, 3, h, w)}, {"embedding": (1, report["embed_dim"])}
            ).to_dict()
        report["files"] = {
            p.relative_to(tmp).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        write_json_atomic(tmp / "report.json", report)
    return report


def export_embedder_from_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    formats: tuple[str, ...] = ("onnx",),
    int8: bool = False,
    calibration: str | os.PathLike[str] | None = None,
    quant_preset: str = "cpu",
    per_channel: bool = True,
    coreml_compression: str = "none",
    overwrite: bool = False,
    max_calibration_images: int = 64,
) -> dict[str, Any]:
    """Load an identification checkpoint (``identification.model.load_embedder``) and export it."""
    from identification.model import load_embedder
    from vision.common.atomic import check_can_write

    check_can_write(out, overwrite)
    model = load_embedder(checkpoint)
    images, labels = (None, None)
    if int8:
        if calibration is None:
            raise UserError("--int8 needs --calibration FOLDER of reference images")
        images, labels = load_images(calibration, max_calibration_images)
    report = export_embedder(
        model,
        out,
        cast("tuple[int, int]", tuple(model.input_size)),
        formats=formats,
        int8=int8,
        calibration_images=images,
        labels=labels,
        quant_preset=quant_preset,
        per_channel=per_channel,
        coreml_compression=coreml_compression,
        source=str(checkpoint),
        overwrite=overwrite,
    )
    return report
