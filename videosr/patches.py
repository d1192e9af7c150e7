"""The non-overlapping patch grid that STDO labels: parsing, validation, patch boxes.

A grid ``(rows, cols)`` cuts every LR frame of ``(h, w)`` pixels into rows x cols patches of
``(h/rows, w/cols)`` LR pixels; the HR patch is the same region times the scale. The grid must divide
the LR frame exactly (so that the client can cut patches without rounding rules).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from vision.common.errors import UserError

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (end exclusive)


def parse_grid(text: str) -> tuple[int, int]:
    """``"5x10"`` -> (5, 10) (rows, cols); a malformed value is a :class:`UserError`."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise UserError(f"--grid must look like ROWSxCOLS with positive numbers, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def resolve_grid(
    lr_size: tuple[int, int], grid: tuple[int, int] | None = None, patch: int | None = None, source: str | None = None
) -> tuple[int, int]:
    """The grid for LR frames of ``lr_size`` (h, w), from ``grid`` or an LR ``patch`` size in pixels.

    Raises :class:`UserError` when the frame is smaller than one patch or the grid does not divide it.
    """
    h, w = lr_size
    if patch is not None:
        if patch < 1:
            raise UserError(f"--patch must be positive, got {patch}")
        if h < patch or w < patch:
            raise UserError(f"LR frames of {h}x{w} are smaller than one {patch}x{patch} patch", source)
        if h % patch or w % patch:
            raise UserError(f"patch size {patch} does not divide the LR frame {h}x{w}", source)
        return h // patch, w // patch
    if grid is None:
        raise ValueError("give grid or patch")
    rows, cols = grid
    if rows > h or cols > w:
        raise UserError(f"LR frames of {h}x{w} are smaller than one patch of a {rows}x{cols} grid", source)
    if h % rows or w % cols:
        divisors_h = [d for d in range(1, min(h, 64) + 1) if h % d == 0]
        divisors_w = [d for d in range(1, min(w, 64) + 1) if w % d == 0]
        raise UserError(
            f"grid {rows}x{cols} does not divide the LR frame {h}x{w} (rows must divide {h}: {divisors_h}; "
            f"cols must divide {w}: {divisors_w})",
            source,
        )
    return rows, cols


def patch_boxes(h: int, w: int, grid: tuple[int, int]) -> Iterator[tuple[tuple[int, int], Box]]:
    """Yield ``((r, c), (y0, y1, x0, x1))`` for every patch of an (h, w) image, row-major."""
    rows, cols = grid
    if h % rows or w % cols:
        raise ValueError(f"grid {grid} does not divide {h}x{w}")
    ph, pw = h // rows, w // cols
    for r in range(rows):
        for c in range(cols):
            yield (r, c), (r * ph, (r + 1) * ph, c * pw, (c + 1) * pw)


def patch_size(h: int, w: int, grid: tuple[int, int]) -> tuple[int, int]:
    """(ph, pw) of one patch of an (h, w) image."""
    return h // grid[0], w // grid[1]
