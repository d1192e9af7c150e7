"""Draw detections on an image: translucent masks, outlines, boxes and ``obj_id score`` labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np


def color_for(key: str) -> tuple[int, int, int]:
    """A stable, saturated RGB colour for a label."""
    h = (sum(ord(c) * 131 ** i for i, c in enumerate(key)) % 180)
    hsv = np.uint8([[[h, 220, 235]]])
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def draw_detections(rgb: np.ndarray, detections: Sequence[Any], alpha: float = 0.45) -> np.ndarray:
    """Annotated copy of ``rgb`` ((H, W, 3) uint8 RGB).

    ``detections`` are objects with ``obj_id``, ``score``, ``bbox`` (xywh) and ``mask`` ((H, W) bool),
    such as :class:`vision.detect.Detection`. Returns (H, W, 3) uint8 RGB.
    """
    out = rgb.astype(np.float32).copy()
    for d in detections:
        col = np.array(color_for(str(d.obj_id)), np.float32)
        m = np.asarray(d.mask, dtype=bool)
        out[m] = (1 - alpha) * out[m] + alpha * col
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
