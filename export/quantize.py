"""INT8 static quantisation (onnxruntime QDQ) calibrated on data the user already has, with its cost.

Presets (:data:`PRESETS`):

- ``cpu``: uint8 activations, int8 weights (the u8s8 form x86 VNNI and ARM dot-product kernels run fastest).
- ``qnn_u8``: Qualcomm QNN HTP preset, uint8 activations and uint8 weights, built with onnxruntime's
  ``get_qnn_qdq_config`` (which also adds the QNN-specific overrides, e.g. symmetric weights where HTP
  requires them).
- ``qnn_u16``: QNN with uint16 activations and uint8 weights (the "A16W8" mode: far smaller activation
  error for image-to-image models such as SR, at about the same speed on HTP v73+).

Calibration data: SR uses tiles cut from the video's own LR frames (:func:`sr_calibration_tiles`), the
embedder uses the user's reference images. The accuracy cost is reported by
:func:`sr_quantization_cost` (PSNR vs HR and vs FP32, drop in dB) and :func:`embedding_quantization_cost`
(cosine to the FP32 embeddings, and recall@1 of each when labels are given).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from export.parity import psnr
from vision.common.atomic import check_can_write
from vision.common.errors import UserError


@dataclass(frozen=True)
class QuantPreset:
    """Activation/weight types of one quantisation preset (names of ``onnxruntime.quantization.QuantType``)."""

    activation: str
    weight: str
    qnn: bool
    description: str


PRESETS: dict[str, QuantPreset] = {
    "cpu": QuantPreset("QUInt8", "QInt8", False, "uint8 activations, int8 weights (x86 VNNI / ARM sdot)"),
    "qnn_u8": QuantPreset("QUInt8", "QUInt8", True, "QNN HTP: uint8 activations, uint8 weights"),
    "qnn_u16": QuantPreset("QUInt16", "QUInt8", True, "QNN HTP: uint16 activations, uint8 weights (A16W8)"),
}

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


class ArrayCalibrationReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over in-memory batches.

    Args:
        input_name: the model's input name.
        samples: (N, C, H, W) float32 samples at the model's static input shape (batch 1 each).
    """

    def __init__(self, input_name: str, samples: np.ndarray) -> None:
        self.input_name = input_name
        self.samples = np.ascontiguousarray(samples, dtype=np.float32)
        self._iter: Iterator[dict[str, np.ndarray]] | None = None
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        assert self._iter is not None
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter({self.input_name: s[None]} for s in self.samples)

    def __len__(self) -> int:
        return len(self.samples)


def _calibration_method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    table = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}
    if name not in table:
        raise UserError(f"unknown calibration method {name!r}; choose one of {', '.join(CALIBRATION_METHODS)}")
    return table[name]


def quantize_onnx(
    model_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    calibration: np.ndarray,
    input_name: str,
    preset: str = "cpu",
    per_channel: bool = True,
    calibrate_method: str = "minmax",
    overwrite: bool = False,
) -> Path:
    """Static QDQ quantisation of an FP32 ONNX model with calibration ``samples``.

    Args:
        model_path: FP32 ONNX model (static input shape).
        out_path: where the QDQ model goes (written atomically, checked with ``onnx.checker``).
        calibration: (N, C, H, W) float32 samples at the model's input shape, N >= 1.
        input_name: the model input fed with the samples.
        preset: one of :data:`PRESETS`.
        per_channel: per-output-channel weight scales (recommended for convs; QNN supports it).
        calibrate_method: ``"minmax"``, ``"percentile"`` or ``"entropy"``.

    Returns:
        ``out_path`` as a Path.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from export.onnx import check_onnx

    if preset not in PRESETS:
        raise UserError(f"unknown quantisation preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if calibration.ndim != 4 or len(calibration) == 0:
        raise UserError(f"calibration data must be a non-empty (N, C, H, W) array, got shape {calibration.shape}")
    spec = PRESETS[preset]
    target = check_can_write(out_path, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    reader = ArrayCalibrationReader(input_name, calibration)
    method = _calibration_method(calibrate_method)
    with tempfile.TemporaryDirectory(prefix=".quant-", dir=target.parent) as tmp_dir:
        prepared = Path(tmp_dir) / "prepared.onnx"
        built = Path(tmp_dir) / target.name
        quant_pre_process(str(model_path), str(prepared), skip_symbolic_shape=True)
        if spec.qnn:
            from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config

            config = get_qnn_qdq_config(
                str(prepared),
                reader,
                calibrate_method=method,
                activation_type=getattr(QuantType, spec.activation),
                weight_type=getattr(QuantType, spec.weight),
                per_channel=per_channel,
            )
            quantize(str(prepared), str(built), config)
        else:
            quantize_static(
                str(prepared),
                str(built),
                reader,
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=getattr(QuantType, spec.activation),
                weight_type=getattr(QuantType, spec.weight),
                calibrate_method=method,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
        check_onnx(built)
        os.replace(built, target)
    return target


def sr_tile_origins(
    frames: Sequence[np.ndarray],
    tile: tuple[int, int],
    count: int,
    seed: int,
    grid_labels: np.ndarray | None = None,
    label: int | None = None,
    frame_indices: Sequence[int] | None = None,
) -> np.ndarray:
    """Random tile origins (N, 3) int64 rows ``(t, y0, x0)`` inside the video's LR frames.

    Args:
        frames: LR frames, RGB uint8 (H, W, 3), all the same size.
        tile: (th, tw) model input size; origins are clipped so a tile stays inside the frame (when the
            frame is smaller than the tile the origin is 0 and :func:`sr_tiles_at` edge-pads).
        count: number of tiles.
        seed: RNG seed.
        grid_labels: optional (T, rows, cols) chunk labels; with ``label`` the tiles are centred on
            patches of that chunk (so each chunk model is calibrated and validated on the content it
            will see); when the chunk has no patch, tiles are drawn anywhere.
        label: the chunk whose patches to sample.
        frame_indices: draw only from these frames (e.g. a temporal model's own segment); None = all.
    """
    if not frames:
        raise UserError("no frames to calibrate on")
    rng = np.random.default_rng(seed)
    h, w = frames[0].shape[:2]
    th, tw = tile
    allowed = np.arange(len(frames)) if frame_indices is None else np.asarray(frame_indices, dtype=np.int64)
    allowed = allowed[(allowed >= 0) & (allowed < len(frames))]
    if len(allowed) == 0:
        raise UserError("no frames to calibrate on (the model's frames are not in the LR folder)")
    candidates = None
    if grid_labels is not None and label is not None:
        where = np.argwhere(grid_labels[: len(frames)] == label)
        where = where[np.isin(where[:, 0], allowed)]
        candidates = where if len(where) else None
    origins = []
    for _ in range(count):
        if candidates is not None:
            t, r, c = candidates[rng.integers(len(candidates))]
            rows, cols = grid_labels.shape[1:]  # type: ignore[union-attr]
            cy, cx = int((r + 0.5) * h / rows), int((c + 0.5) * w / cols)
            y0, x0 = cy - th // 2, cx - tw // 2
        else:
            t = allowed[rng.integers(len(allowed))]
            y0, x0 = int(rng.integers(0, max(1, h - th + 1))), int(rng.integers(0, max(1, w - tw + 1)))
        y0, x0 = int(np.clip(y0, 0, max(0, h - th))), int(np.clip(x0, 0, max(0, w - tw)))
        origins.append((int(t), y0, x0))
    return np.asarray(origins, dtype=np.int64).reshape(-1, 3)


def sr_tiles_at(frames: Sequence[np.ndarray], origins: np.ndarray, tile: tuple[int, int]) -> np.ndarray:
    """LR tiles (N, 3, th, tw) float32 in [0, 1] at ``origins`` (N, 3) ``(t, y0, x0)``.

    A frame smaller than the tile is edge-padded at its bottom/right like the tiler does.
    """
    th, tw = tile
    tiles = []
    for t, y0, x0 in np.asarray(origins, dtype=np.int64).reshape(-1, 3):
        crop = frames[int(t)][y0 : y0 + th, x0 : x0 + tw]
        if crop.shape[:2] != (th, tw):
            crop = np.pad(crop, ((0, th - crop.shape[0]), (0, tw - crop.shape[1]), (0, 0)), mode="edge")
        tiles.append(crop.transpose(2, 0, 1).astype(np.float32) / 255.0)
    return np.ascontiguousarray(np.stack(tiles))


def sr_calibration_tiles(
    frames: Sequence[np.ndarray],
    tile: tuple[int, int],
    count: int,
    seed: int,
    grid_labels: np.ndarray | None = None,
    label: int | None = None,
    frame_indices: Sequence[int] | None = None,
) -> np.ndarray:
    """Random LR tiles (N, 3, th, tw) float32 in [0, 1] from the video's own frames.

    :func:`sr_tile_origins` (same arguments) then :func:`sr_tiles_at`.
    """
    origins = sr_tile_origins(frames, tile, count, seed, grid_labels, label, frame_indices)
    return sr_tiles_at(frames, origins, tile)


def sr_quantization_cost(
    fp32_out: Sequence[np.ndarray], int8_out: Sequence[np.ndarray], hr: Sequence[np.ndarray] | None = None
) -> dict[str, float | None]:
    """Accuracy cost of INT8 SR outputs, all arrays on a [0, 1] scale (clipped here).

    Returns:
        ``psnr_int8_vs_fp32`` always; with ``hr``: ``psnr_fp32``, ``psnr_int8`` (vs HR) and
        ``psnr_drop_db = psnr_fp32 - psnr_int8``; otherwise those are None.
    """
    f = np.concatenate([np.clip(a, 0, 1).ravel() for a in fp32_out])
    q = np.concatenate([np.clip(a, 0, 1).ravel() for a in int8_out])
    cost: dict[str, float | None] = {"psnr_int8_vs_fp32": psnr(f, q), "psnr_fp32": None, "psnr_int8": None, "psnr_drop_db": None}
    if hr is not None:
        r = np.concatenate([np.clip(a, 0, 1).ravel() for a in hr])
        psnr_fp32, psnr_int8 = psnr(f, r), psnr(q, r)
        cost["psnr_fp32"] = psnr_fp32
        cost["psnr_int8"] = psnr_int8
        cost["psnr_drop_db"] = psnr_fp32 - psnr_int8
    return cost


def _recall_at_1(emb: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out nearest-neighbour (cosine) recall@1 over ``emb`` (N, D) L2-normalised."""
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(axis=1)
    return float(np.mean(labels[nearest] == labels))


def embedding_quantization_cost(
    fp32: np.ndarray,
    int8: np.ndarray,
    labels: np.ndarray | None = None,
    gallery: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, float | None]:
    """Accuracy cost of INT8 embeddings (N, D) vs FP32: cosine per sample, and recall@1 with ``labels``.

    Embeddings are re-normalised before the cosine. Without ``gallery``, ``recall@1`` is leave-one-out
    nearest neighbour among the given samples (needs at least two samples per label to be meaningful).
    With ``gallery = (gallery_fp32, gallery_int8, gallery_labels)`` ((M, D), (M, D), (M,)), each sample is a
    query against the gallery embedded by the same model (FP32 queries vs the FP32 gallery, INT8 vs INT8).
    """
    a = _l2n(fp32)
    b = _l2n(int8)
    cos = np.sum(a * b, axis=1)
    cost: dict[str, float | None] = {
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
        "recall@1_fp32": None,
        "recall@1_int8": None,
    }
    if labels is not None and gallery is not None:
        g32, g8, glabels = _l2n(gallery[0]), _l2n(gallery[1]), np.asarray(gallery[2])
        labels = np.asarray(labels)
        cost["recall@1_fp32"] = float(np.mean(glabels[(a @ g32.T).argmax(axis=1)] == labels))
        cost["recall@1_int8"] = float(np.mean(glabels[(b @ g8.T).argmax(axis=1)] == labels))
    elif labels is not None and len(labels) > 1:
        labels = np.asarray(labels)
        cost["recall@1_fp32"] = _recall_at_1(a, labels)
        cost["recall@1_int8"] = _recall_at_1(b, labels)
    return cost


def _l2n(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def holdout_split(labels: np.ndarray | None, count: int, fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Split ``count`` images into (calibration, held-out) index arrays, per label when labels are given.

    Of each label's ``m >= 2`` images, ``max(1, round(m * fraction))`` (at most ``m - 1``) evenly spaced
    ones are held out; a label with one image stays in calibration. Without labels all images form one
    group. Raises :class:`UserError` when nothing can be held out (fewer than 2 images in every group).
    """
    groups = [np.arange(count)] if labels is None else [np.flatnonzero(np.asarray(labels) == v) for v in np.unique(labels)]
    held: list[int] = []
    for idx in groups:
        m = len(idx)
        if m < 2:
            continue
        k = min(m - 1, max(1, int(round(m * fraction))))
        held.extend(int(idx[i]) for i in np.unique(np.round(np.linspace(0, m - 1, k + 2)[1:-1]).astype(int)))
    if not held:
        raise UserError(
            f"INT8 cost needs images held out from calibration: give at least 2 reference images "
            f"(per product folder), got {count} image(s)"
        )
    holdout = np.array(sorted(held), dtype=np.int64)
    return np.setdiff1d(np.arange(count), holdout), holdout
