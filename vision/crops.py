"""Object crops for the embedder: padded square box around a mask, background filled, optional resize.

As in the reference pipeline (CNOS), pixels outside the object mask are replaced by a constant fill
(white), so the identifier sees the object alone, as in its reference images.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.proposals import mask_bbox


def crop_box(mask: np.ndarray, pad: float, square: bool = True) -> tuple[int, int, int, int]:
    """The (x0, y0, x1, y1) crop window (exclusive end, may extend past the image) for ``mask``.

    The tight box is grown by ``pad`` times its longer side on every side and, with ``square``, made
    square around its centre.
    """
    x, y, w, h = mask_bbox(mask)
    if w == 0 or h == 0:
        raise ValueError("cannot crop an empty mask")
    side_w, side_h = (max(w, h), max(w, h)) if square else (w, h)
    margin = pad * max(w, h)
    cx, cy = x + w / 2.0, y + h / 2.0
    half_w, half_h = side_w / 2.0 + margin, side_h / 2.0 + margin
    x0, y0 = int(np.floor(cx - half_w)), int(np.floor(cy - half_h))
    x1, y1 = int(np.ceil(cx + half_w)), int(np.ceil(cy + half_h))
    return x0, y0, x1, y1


def crop_object(
    rgb: np.ndarray,
    mask: np.ndarray,
    pad: float = 0.1,
    fill: int = 255,
    size: int | None = None,
    square: bool = True,
) -> np.ndarray:
    """Crop one object out of an image.

    Args:
        rgb: (H, W, 3) uint8 RGB image.
        mask: (H, W) bool object mask (non-empty).
        pad: margin around the tight box, as a fraction of its longer side (0.1 = 10 %).
        fill: value (0..255) for pixels outside the mask and outside the image.
        size: if given, resize the crop to (size, size) (``square`` should then be True).
        square: make the crop window square around the object's centre.

    Returns:
        (h, w, 3) uint8 RGB crop, (size, size, 3) when ``size`` is given.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {rgb.shape[:2]}")
    H, W = mask.shape
    x0, y0, x1, y1 = crop_box(mask, pad, square)
    out: np.ndarray = np.full((y1 - y0, x1 - x0, 3), fill, dtype=np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    src = rgb[sy0:sy1, sx0:sx1]
    keep = mask[sy0:sy1, sx0:sx1].astype(bool)
    region = out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
    region[keep] = src[keep]
    if size is not None:
        interp = cv2.INTER_AREA if out.shape[0] > size else cv2.INTER_LINEAR
        out = cv2.resize(out, (size, size), interpolation=interp)
    return out
