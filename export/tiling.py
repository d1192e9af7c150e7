"""Fixed-size LR tiles with overlap: one static-shape SR graph serves any frame size, with no seams.

NumPy only (the torch-free player uses it).

A frame of ``L`` pixels along an axis is covered by tiles of ``T`` pixels whose starts step by
``T - 2*overlap``; the last tile is aligned to the frame's end (it overlaps its neighbour more). Each
output pixel is taken from exactly one tile, at least ``overlap`` pixels away from that tile's inner
edges; tiles touching the frame border use the border itself, where the convolutions' zero padding is
the same as in a whole-frame pass. Hence for a model whose receptive-field radius ``r`` (in LR pixels)
satisfies ``r <= overlap``, the tiled output equals the whole-frame output (up to floating-point
summation order inside the runtime's convolution kernels; exactly for a deterministic reference).

Frames smaller than a tile along an axis are edge-padded to the tile size and the output cropped; that
case is not seam-related but is not exact near the padded edge.

Per-patch model selection (STDO): ``pixel_labels`` (H, W) picks, for every LR pixel, which of several
tile runners produces its ``s x s`` output block; each tile runs only the models that some of its
output pixels need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: ``(1, C, th, tw) float32 -> (1, C, s*th, s*tw) float32``
TileRunner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Span:
    """One tile along one axis: the input window ``[start, start+size)`` and the output-owned ``[lo, hi)``."""

    start: int
    lo: int
    hi: int


def tile_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Cover ``[0, length)`` with windows of ``tile`` pixels; each pixel is owned by exactly one window.

    Ownership boundaries lie at least ``overlap`` pixels inside both neighbouring windows. Requires
    ``tile > 2 * overlap``. For ``length <= tile`` there is one window starting at 0.
    """
    if overlap < 0 or tile <= 2 * overlap:
        raise ValueError(f"tile ({tile}) must be larger than 2 * overlap ({overlap})")
    if length <= tile:
        return [Span(0, 0, length)]
    step = tile - 2 * overlap
    starts = []
    s = 0
    while True:
        s = min(s, length - tile)
        starts.append(s)
        if s + tile >= length:
            break
        s += step
    spans: list[Span] = []
    for i, start in enumerate(starts):
        lo = 0 if i == 0 else spans[-1].hi
        if i == len(starts) - 1:
            hi = length
        else:  # cut midway between this window's last valid pixel and the next window's first
            nxt = starts[i + 1]
            hi = (start + tile - overlap + nxt + overlap) // 2
        spans.append(Span(start, lo, hi))
    return spans


def choose_tile(frame_hw: tuple[int, int], overlap: int, max_side: int = 128, multiple: int = 8) -> tuple[int, int]:
    """Smallest-waste fixed tile (th, tw) for frames of ``frame_hw``, each side <= ``max_side``.

    Per axis: an axis of ``L <= max_side`` pixels is one tile of exactly ``L``; otherwise the fewest
    tiles ``n`` whose side ``ceil(L / n) + 2 * overlap`` (rounded up to ``multiple``, NPU-friendly
    blocking) fits ``max_side``. E.g. 180x320 LR with overlap 4 -> (104, 120): 6 tiles
    of 12.5 k pixels instead of 6 tiles of 16.4 k with a fixed 128x128.
    """
    sides = []
    for length in frame_hw:
        if length <= max_side:  # one tile spans the axis exactly: no waste, exact borders
            side = length
        else:
            n = 2
            while True:
                side = min(length, -(-(-(-length // n) + 2 * overlap) // multiple) * multiple)
                if side <= max_side or side <= 2 * overlap + multiple:
                    break
                n += 1
        sides.append(max(side, 2 * overlap + 1))
    return sides[0], sides[1]


def receptive_radius(kernel_sizes: Sequence[tuple[int, int]]) -> int:
    """Upper bound of the receptive-field radius (LR pixels) of a stack of stride-1 convolutions.

    ``kernel_sizes`` are effective (dilation-included) kernel sizes; the bound is the sum of the half
    sizes, valid for any wiring of those convolutions (skips only shorten paths).
    """
    return int(sum(max((kh - 1) // 2, (kw - 1) // 2) for kh, kw in kernel_sizes))


def patch_label_image(grid_labels: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """Expand (rows, cols) patch labels to an (H, W) per-pixel label image.

    Patch ``(r, c)`` covers rows ``[r*H//rows, (r+1)*H//rows)`` and columns likewise (equal patches when
    ``H`` and ``W`` are multiples of the grid, as the videosr pipeline crops them).
    """
    rows, cols = grid_labels.shape
    h, w = frame_hw
    row_idx = (np.arange(h) * rows) // h
    col_idx = (np.arange(w) * cols) // w
    return grid_labels[row_idx[:, None], col_idx[None, :]]


def run_tiled(
    frame: np.ndarray,
    runners: Sequence[TileRunner],
    tile: tuple[int, int],
    overlap: int,
    scale: int,
    pixel_labels: np.ndarray | None = None,
) -> np.ndarray:
    """Super-resolve one frame tile by tile.

    Args:
        frame: (C, H, W) float32 LR frame.
        runners: tile runners; ``runners[k]`` is used for pixels labelled ``k``.
        tile: (th, tw) LR tile size the runners accept.
        overlap: LR pixels of context kept on each inner tile side (>= the models' receptive radius for
            seamless output).
        scale: upscaling factor s.
        pixel_labels: (H, W) integer labels in ``[0, len(runners))``; None uses ``runners[0]`` everywhere.

    Returns:
        (C, s*H, s*W) float32.
    """
    if frame.ndim != 3:
        raise ValueError(f"frame must be (C, H, W), got shape {frame.shape}")
    c, h, w = frame.shape
    th, tw = tile
    padded = frame
    if h < th or w < tw:
        padded = np.pad(frame, ((0, 0), (0, max(0, th - h)), (0, max(0, tw - w))), mode="edge")
    ph, pw = padded.shape[1:]
    labels = None
    if pixel_labels is not None:
        labels = np.pad(pixel_labels, ((0, ph - h), (0, pw - w)), mode="edge") if (ph, pw) != (h, w) else pixel_labels
    out = np.empty((c, scale * ph, scale * pw), dtype=np.float32)
    for ys in tile_spans(ph, th, overlap):
        for xs in tile_spans(pw, tw, overlap):
            window = np.ascontiguousarray(padded[None, :, ys.start : ys.start + th, xs.start : xs.start + tw])
            oy0, oy1 = scale * (ys.lo - ys.start), scale * (ys.hi - ys.start)
            ox0, ox1 = scale * (xs.lo - xs.start), scale * (xs.hi - xs.start)
            target = out[:, scale * ys.lo : scale * ys.hi, scale * xs.lo : scale * xs.hi]
            if labels is None:
                target[...] = runners[0](window)[0, :, oy0:oy1, ox0:ox1]
                continue
            owned = labels[ys.lo : ys.hi, xs.lo : xs.hi]
            for k in np.unique(owned):
                result = runners[int(k)](window)[0, :, oy0:oy1, ox0:ox1]
                mask = np.repeat(np.repeat(owned == k, scale, axis=0), scale, axis=1)
                np.copyto(target, result, where=mask[None])
    return out[:, : scale * h, : scale * w]
