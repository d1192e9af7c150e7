"""Parity checks: the same inputs through PyTorch and ONNX Runtime, max abs error and PSNR recorded.

An export that misses its tolerance raises :class:`UserError` (the CLI prints one line, nothing is
published). Default tolerances: FP32 ONNX max abs error <= 1e-4 on [0, 1] images
(:data:`FP32_ATOL`); INT8 SR PSNR drop vs FP32 <= 0.5 dB (:data:`INT8_MAX_PSNR_DROP_DB`, used by
:mod:`export.quantize`).

Module level is numpy-only; torch is imported inside :func:`check_parity`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vision.common.errors import UserError

if TYPE_CHECKING:
    import torch

FP32_ATOL = 1e-4
INT8_MAX_PSNR_DROP_DB = 0.5
#: Fallback INT8 SR gate when the run kept no HR frames: PSNR of the INT8 output vs the FP32 output (dB).
#: INT8 error is roughly independent of the model's own error, so MSE_int8 ~ MSE_fp32 + MSE_q and the drop
#: vs HR is ``10 log10(1 + MSE_q / MSE_fp32)``; 40 dB vs FP32 keeps that drop <= 0.5 dB for any model
#: whose FP32 PSNR vs HR is <= 30.9 dB (every 4x video SR model on real content).
INT8_MIN_PSNR_VS_FP32_DB = 40.0


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB between two arrays of the same shape with values on a [0, ``peak``] scale.

    Computed in float64 over all elements: ``10 log10(peak^2 / mean((a - b)^2))``; identical arrays give
    ``inf``. Inputs are compared as given (clip them first if the model output is unclamped).
    """
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    if a64.shape != b64.shape:
        raise ValueError(f"psnr needs equal shapes, got {a64.shape} and {b64.shape}")
    mse = float(np.mean((a64 - b64) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


@dataclass
class ParityReport:
    """Result of one parity check.

    Attributes:
        name: what was checked (e.g. ``"chunk0 fp32"``).
        max_abs_error: max |torch - onnx| over all outputs.
        psnr_db: PSNR of the ONNX image output vs the torch one (clipped to [0, 1]); None for non-images.
        tolerance: the max abs error allowed.
        passed: ``max_abs_error <= tolerance``.
        per_output: max abs error per output name.
        samples: how many input sets were compared (:func:`check_parity_many`).
    """

    name: str
    max_abs_error: float
    psnr_db: float | None
    tolerance: float
    passed: bool
    per_output: dict[str, float]
    samples: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def compare_outputs(
    reference: list[np.ndarray],
    candidate: list[np.ndarray],
    names: list[str],
    tolerance: float,
    name: str,
    image_outputs: tuple[int, ...] = (),
) -> ParityReport:
    """Compare two lists of output arrays (same order); PSNR over the ``image_outputs`` indices."""
    if len(reference) != len(candidate):
        raise UserError(f"{name}: the exported model has {len(candidate)} outputs, PyTorch gives {len(reference)}")
    per_output: dict[str, float] = {}
    for out_name, ref, cand in zip(names, reference, candidate, strict=True):
        if ref.shape != cand.shape:
            raise UserError(f"{name}: output {out_name!r} has shape {list(cand.shape)}, PyTorch gives {list(ref.shape)}")
        diff = np.abs(ref.astype(np.float64) - cand.astype(np.float64))
        per_output[out_name] = float(diff.max()) if diff.size else 0.0
    max_err = max(per_output.values()) if per_output else 0.0
    psnr_db = None
    if image_outputs:
        ref_img = np.concatenate([np.clip(reference[i], 0, 1).ravel() for i in image_outputs])
        cand_img = np.concatenate([np.clip(candidate[i], 0, 1).ravel() for i in image_outputs])
        psnr_db = psnr(ref_img, cand_img)
    return ParityReport(name, max_err, psnr_db, tolerance, bool(max_err <= tolerance), per_output)


def check_parity(
    model: torch.nn.Module,
    onnx_path: str | os.PathLike[str],
    inputs: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    tolerance: float = FP32_ATOL,
    image_outputs: tuple[int, ...] = (),
    name: str = "export",
    threads: int = 2,
    raise_on_failure: bool = True,
) -> ParityReport:
    """Run ``inputs`` through ``model`` (eval, no grad) and the ONNX file; compare every output.

    Raises:
        UserError: when the max abs error exceeds ``tolerance`` (unless ``raise_on_failure`` is false).
    """
    return check_parity_many(
        model, onnx_path, [inputs], input_names, output_names, tolerance, image_outputs, name, threads, raise_on_failure
    )


def check_parity_many(
    model: torch.nn.Module,
    onnx_path: str | os.PathLike[str],
    input_sets: list[tuple[torch.Tensor, ...]],
    input_names: list[str],
    output_names: list[str],
    tolerance: float = FP32_ATOL,
    image_outputs: tuple[int, ...] = (),
    name: str = "export",
    threads: int = 2,
    raise_on_failure: bool = True,
) -> ParityReport:
    """:func:`check_parity` over several input sets (e.g. tiles of several frames, each at the static shape).

    Every set runs through both models; max abs error is the max over all sets and outputs, PSNR is over
    all sets' image outputs together; ``samples`` = number of sets.
    """
    import torch

    from export.runtime import make_session

    if not input_sets:
        raise ValueError("check_parity_many needs at least one input set")
    session = make_session(onnx_path, threads)
    refs: list[list[np.ndarray]] = []
    cands: list[list[np.ndarray]] = []
    for inputs in input_sets:
        with torch.no_grad():
            out = model.eval()(*inputs)
        refs.append([t.detach().cpu().numpy() for t in (out if isinstance(out, tuple | list) else (out,))])
        feeds = {n: t.detach().cpu().numpy() for n, t in zip(input_names, inputs, strict=True)}
        cands.append(list(session.run(None, feeds)))
    if any(len(c) != len(refs[0]) for c in refs + cands):
        raise UserError(f"{name}: the exported model has {len(cands[0])} outputs, PyTorch gives {len(refs[0])}")
    report = compare_outputs(refs[0], cands[0], output_names, tolerance, name, image_outputs)
    if len(input_sets) > 1:  # shapes agree per set (checked above): compare all sets together
        ref = [np.stack([r[k] for r in refs]) for k in range(len(refs[0]))]
        cand = [np.stack([c[k] for c in cands]) for k in range(len(cands[0]))]
        report = compare_outputs(ref, cand, output_names, tolerance, name, image_outputs)
    report.samples = len(input_sets)
    if raise_on_failure and not report.passed:
        raise UserError(
            f"{name}: ONNX Runtime output differs from PyTorch by {report.max_abs_error:.3g} "
            f"(tolerance {tolerance:.3g}); the export is not faithful",
            onnx_path,
        )
    return report
