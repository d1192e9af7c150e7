"""Object proposals: one candidate object mask per entry, produced by any :class:`Segmenter`.

A segmenter turns an image into class-agnostic proposals; the detector (:mod:`vision.detect`) then crops
and identifies them. SAM (:mod:`vision.sam`) and the OpenCV fallback (:mod:`vision.classical`) both
implement the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class Proposal:
    """A class-agnostic object proposal.

    Attributes:
        mask: (H, W) bool, True on the object's pixels.
        bbox: (x, y, w, h) int pixel box tight around ``mask`` (x, y of the top-left pixel).
        score: segmenter confidence in [0, 1] (SAM's predicted IoU; 1.0 for the classical segmenter).
    """

    mask: np.ndarray
    bbox: tuple[int, int, int, int]
    score: float


@runtime_checkable
class Segmenter(Protocol):
    """Anything that proposes object masks for an image."""

    def segment(self, rgb: np.ndarray, depth: np.ndarray | None = None) -> list[Proposal]:
        """Proposals for ``rgb`` ((H, W, 3) uint8 RGB); ``depth`` (H, W) float32 millimetres (0 = no data)."""
        ...


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight (x, y, w, h) box of a (H, W) bool mask; (0, 0, 0, 0) for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0, 0, 0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def proposal_from_mask(mask: np.ndarray, score: float = 1.0) -> Proposal:
    """Wrap a (H, W) mask (any dtype, non-zero = object) as a :class:`Proposal` with its tight box."""
    m = np.asarray(mask).astype(bool)
    return Proposal(mask=m, bbox=mask_bbox(m), score=float(score))
