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
    """The grid for LR frames of ``lr_size`` (h, w), from ``grid``, an LR ``patch`` size in pixels, or
    (neither given) :func:`auto_grid`.

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
        return auto_grid(lr_size)
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


AUTO_PATCH_LR = 48  # LR pixels; the reference grids give 48x54 LR patches (1080p: 20x10 at x2, 10x5 at x4)


def _closest_divisor_count(n: int, target: float) -> int:
    """The number of equal parts of ``n`` whose size is closest to ``target`` (larger parts win ties);
    parts are never smaller than 8 pixels (or ``n`` itself when ``n`` < 8)."""
    counts = [d for d in range(1, n + 1) if n % d == 0 and n // d >= min(n, 8)]
    return min(counts, key=lambda d: (abs(n / d - target), d))


def auto_grid(lr_size: tuple[int, int], target: int = AUTO_PATCH_LR) -> tuple[int, int]:
    """A grid that divides LR frames of ``lr_size`` (h, w) exactly, with patches near ``target`` pixels.

    Used when neither ``--grid`` nor ``--patch`` is given, so any frame size works without the user
    having to find divisors. Small frames get smaller patches (about a quarter of the shorter side,
    at least 8 pixels) so that there are still several patches per frame to chunk: 270x480 LR -> 6x10
    patches of 45x48; 45x80 -> 5x8 of 9x10; 36x64 -> 4x8 of 9x8.
    """
    h, w = lr_size
    size = max(8.0, min(float(target), min(h, w) / 4))
    return _closest_divisor_count(h, round(size)), _closest_divisor_count(w, round(size))


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
