"""Draw detections on an image: translucent masks, outlines, boxes and ``obj_id score`` labels."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40))


def color_for(key: str) -> tuple[int, int, int]:
    """A stable RGB colour for a label: numeric ids cycle through a 12-colour palette, others by CRC32."""
    index = int(key) if key.isdigit() else zlib.crc32(key.encode("utf-8"))
    return PALETTE[index % len(PALETTE)]


def draw_detections(rgb: np.ndarray, detections: Sequence[Any], alpha: float = 0.45) -> np.ndarray:
    """Annotated copy of ``rgb`` ((H, W, 3) uint8 RGB).

    ``detections`` are objects with ``obj_id``, ``score``, ``bbox`` (xywh) and ``mask`` ((H, W) bool),
    such as :class:`vision.detect.Detection`. Returns (H, W, 3) uint8 RGB.
    """
    out = rgb.astype(np.float32).copy()
    for d in detections:
        tint = np.array(color_for(str(d.obj_id)), np.float32)
        m = np.asarray(d.mask, dtype=bool)
        out[m] = (1 - alpha) * out[m] + alpha * tint
    img = np.clip(out, 0, 255).astype(np.uint8)
    scale = max(0.35, min(img.shape[:2]) / 900)
    for d in detections:
        col = color_for(str(d.obj_id))
        contours, _ = cv2.findContours(np.asarray(d.mask, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(img, contours, -1, col, 2)
        x, y, w, h = (int(v) for v in d.bbox)
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), col, 1)
        text = f"{d.obj_id} {d.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = max(th + 2, y - 3)
        cv2.rectangle(img, (x, ty - th - 2), (x + tw + 2, ty + base - 1), col, -1)
        cv2.putText(img, text, (x + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return img
