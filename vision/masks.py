"""Mask utilities: area/background filtering, mask NMS, and COCO-compatible run-length encoding.

RLE follows the COCO convention (pycocotools ``maskApi.c``): the mask is read in column-major
(Fortran) order, counts alternate runs of 0s and 1s starting with 0s, and the compressed ``counts``
string stores each count as 5-bit groups (difference to the count two places back after the third),
offset by 48 into printable ASCII.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vision.proposals import Proposal


class RLEError(ValueError):
    """A run-length encoding that cannot be decoded or does not fit its size."""


# ----------------------------------------------------------------------------------------------- RLE
def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO run lengths of a (H, W) mask (column-major, starting with a run of 0s)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0, *runs]
    return [int(r) for r in runs]


def counts_to_string(counts: Sequence[int]) -> str:
    """Compress run lengths into the COCO ``counts`` string (``rleToString`` in maskApi.c)."""
    out: list[str] = []
    for i, count in enumerate(counts):
        x = int(count)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def string_to_counts(text: str | bytes) -> list[int]:
    """Decompress a COCO ``counts`` string into run lengths (``rleFrString`` in maskApi.c), vectorised.

    Each count is a group of 5-bit chunks (low bits first) ending at a character without the 0x20
    continuation bit; a set 0x10 bit in the last chunk sign-extends the value; from the fourth count on,
    the value is a difference to the count two places back.
    """
    return string_to_counts_array(text).tolist()


def string_to_counts_array(text: str | bytes) -> np.ndarray:
    """:func:`string_to_counts` as an int64 array. Raises :class:`RLEError` for invalid characters."""
    try:
        data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError as err:
        raise RLEError(f"invalid character {text[err.start]!r} in RLE counts") from err
    c = np.frombuffer(data, dtype=np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, np.int64)
    if (c < 0).any() or (c > 63).any():
        bad = data[int(np.flatnonzero((c < 0) | (c > 63))[0])]
        raise RLEError(f"invalid character {chr(bad)!r} in RLE counts")
    ends = np.flatnonzero((c & 0x20) == 0)
    if ends.size == 0 or ends[-1] != c.size - 1:
        raise RLEError("truncated RLE counts string")
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 12:
        raise RLEError("RLE count too large")
    k = np.arange(c.size) - np.repeat(starts, lengths)
    x = np.add.reduceat((c & 0x1F) << (5 * k), starts)
    negative = (c[ends] & 0x10) != 0
    x = np.where(negative, x - (np.int64(1) << (5 * lengths)), x)
    counts = x.copy()
    if counts.size > 3:
        counts[2::2] = np.cumsum(x[2::2])
        counts[3::2] = x[1] + np.cumsum(x[3::2])
    return counts


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a (H, W) bool mask: ``{"counts": str, "size": [H, W]}``."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    return {"counts": counts_to_string(rle_counts(m)), "size": [int(m.shape[0]), int(m.shape[1])]}


def rle_validate(rle: dict[str, Any]) -> np.ndarray:
    """Run lengths (int64 array) of a COCO RLE after checking it fits its ``size``; :class:`RLEError` otherwise."""
    if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
        raise RLEError("RLE must be a mapping with 'counts' and 'size'")
    size = rle["size"]
    if not (isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(s, int) and s >= 0 for s in size)):
        raise RLEError(f"RLE size must be [H, W] non-negative integers, got {size!r}")
    raw = rle["counts"]
    if isinstance(raw, str | bytes):
        counts = string_to_counts_array(raw)
    elif isinstance(raw, list) and all(isinstance(c, int) for c in raw):
        counts = np.asarray(raw, dtype=np.int64)
    else:
        raise RLEError("RLE counts must be a string or a list of integers")
    if (counts < 0).any():
        raise RLEError("RLE has a negative run length")
    total = int(counts.sum())
    if total != size[0] * size[1]:
        raise RLEError(f"RLE counts sum to {total}, expected H*W = {size[0] * size[1]}")
    return counts


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    """Decode a COCO RLE (compressed string/bytes ``counts`` or an uncompressed list) to a (H, W) bool mask.

    Raises:
        RLEError: malformed ``size``/``counts`` or counts that do not add up to H*W.
    """
    counts = rle_validate(rle)
    h, w = int(rle["size"][0]), int(rle["size"][1])
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape((h, w), order="F")


def rle_area(rle: dict[str, Any]) -> int:
    """Number of foreground pixels of a COCO RLE without decoding it to a full mask."""
    return int(rle_validate(rle)[1::2].sum())


# ----------------------------------------------------------------------------------------- IoU, NMS
def mask_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU between masks ``a`` (N, H, W) bool and ``b`` (M, H, W) bool -> (N, M) float64.

    Two empty masks have IoU 0.
    """
    a2 = np.asarray(a, dtype=bool).reshape(len(a), -1)
    b2 = np.asarray(b, dtype=bool).reshape(len(b), -1)
    if len(a2) == 0 or len(b2) == 0:
        return np.zeros((len(a2), len(b2)))
    inter = a2.astype(np.float32) @ b2.astype(np.float32).T
    area_a = a2.sum(axis=1).astype(np.float64)
    area_b = b2.sum(axis=1).astype(np.float64)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU between xywh boxes ``a`` (N, 4) and ``b`` (M, 4) -> (N, M) float64."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def mask_nms(masks: np.ndarray | Sequence[np.ndarray], scores: Sequence[float], iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression on masks.

    Args:
        masks: (N, H, W) bool.
        scores: N scores; higher is better (ties keep the earlier index).
        iou_threshold: a mask whose IoU with an already kept mask is > this is dropped.

    Returns:
        Indices of the kept masks, in decreasing score order.
    """
    n = len(scores)
    if n == 0:
        return []
    stack = np.stack([np.asarray(m, dtype=bool) for m in masks])
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    iou = mask_iou_matrix(stack, stack)
    keep: list[int] = []
    suppressed = np.zeros(n, dtype=bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= iou[i] > iou_threshold
    return keep


# ------------------------------------------------------------------------------------------ filters
@dataclass
class MaskFilter:
    """Drop proposals that cannot be a graspable object.

    Attributes:
        min_area: minimum mask pixels (paper: masks under 50x50 px = 2500 are dropped).
        max_area_fraction: masks covering more than this fraction of the image are background.
        max_box_fraction: masks whose box spans more than this fraction of BOTH image width and height
            are the tote/table outline rather than an object.
        nms_iou: class-agnostic mask NMS threshold applied after the size filters (None = off).
    """

    min_area: int = 2500
    max_area_fraction: float = 0.5
    max_box_fraction: float = 0.95
    nms_iou: float | None = 0.8

    def reject_reason(self, mask: np.ndarray) -> str | None:
        """Why ``mask`` (H, W) bool is dropped ("small", "background"), or None to keep it."""
        h, w = mask.shape
        area = int(mask.sum())
        if area < self.min_area:
            return "small"
        if area > self.max_area_fraction * h * w:
            return "background"
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        bw, bh = cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
        if bw > self.max_box_fraction * w and bh > self.max_box_fraction * h:
            return "background"
        return None

    def __call__(self, proposals: Sequence[Proposal]) -> tuple[list[Proposal], dict[str, int]]:
        """Filtered proposals (NMS order: decreasing score) and counts of what was dropped and why."""
        kept: list[Proposal] = []
        dropped = {"small": 0, "background": 0, "duplicate": 0}
        for p in proposals:
            reason = self.reject_reason(p.mask)
            if reason is None:
                kept.append(p)
            else:
                dropped[reason] += 1
        if self.nms_iou is not None and len(kept) > 1:
            idx = mask_nms([p.mask for p in kept], [p.score for p in kept], self.nms_iou)
            dropped["duplicate"] = len(kept) - len(idx)
            kept = [kept[i] for i in idx]
        return kept, dropped
