"""Annotated image of the grasp node's output: masks, product labels, suction points and jaw lines.

Drawn with OpenCV on a copy of the ``(H, W, 3) uint8`` RGB frame: each object's mask outline and
product id with score; the suction point as a filled circle with its approach normal projected into
the image (short line); the parallel-jaw grasp as a line between the two jaw tips. Objects without a
grasp get their reason written under the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from demos.grasp.geometry import Intrinsics

_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
            (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190)]


def _text(img: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int], scale: float) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def draw_grasps(rgb: np.ndarray, objects: Sequence[Any], k: Intrinsics) -> np.ndarray:
    """Annotated copy of ``rgb`` for ``objects`` (:class:`demos.grasp.node.ObjectResult`).

    Returns ``(H, W, 3) uint8`` RGB.
    """
    out = np.ascontiguousarray(rgb.copy())
    scale = max(0.35, min(out.shape[:2]) / 700.0)
    for i, obj in enumerate(objects):
        colour = _COLOURS[i % len(_COLOURS)]
        contours, _ = cv2.findContours(obj.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour, 1, cv2.LINE_AA)
        x, y, w, h = (int(v) for v in obj.bbox)
        _text(out, f"{obj.product_id} {obj.score:.2f}", (x, max(y - 3, 10)), colour, scale)
        s = obj.suction
        if s.ok and s.pixel is not None and s.pose is not None:
            u, v = (int(round(c)) for c in s.pixel)
            tip = k.project(s.pose.position - 0.03 * s.pose.rotation()[:, 2])
            if np.all(np.isfinite(tip)):
                cv2.line(out, (u, v), (int(tip[0]), int(tip[1])), (255, 255, 255), 1, cv2.LINE_AA)
            cv2.circle(out, (u, v), max(3, int(4 * scale / 0.5)), colour, -1, cv2.LINE_AA)
            cv2.circle(out, (u, v), max(3, int(4 * scale / 0.5)), (255, 255, 255), 1, cv2.LINE_AA)
        j = obj.parallel_jaw
        if j.ok and j.pose is not None and j.width_m is not None:
            axis = j.pose.rotation()[:, 0] * (j.width_m / 2)
            a, b = k.project(j.pose.position - axis), k.project(j.pose.position + axis)
            if np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
                pa, pb = (int(a[0]), int(a[1])), (int(b[0]), int(b[1]))
                cv2.line(out, pa, pb, colour, 2, cv2.LINE_AA)
                for p in (pa, pb):
                    cv2.circle(out, p, 3, (255, 255, 255), -1, cv2.LINE_AA)
        reasons = [g.reason for g in (s, j) if not g.ok]
        if reasons:
            _text(out, reasons[0][:40], (x, min(y + h + int(14 * scale / 0.5), out.shape[0] - 2)), colour, scale * 0.8)
    return out
