"""OpenCV segmenter for tote and tabletop scenes: the fallback when no SAM checkpoint is available.

With depth (an RGB-D camera looking down at a tote floor or table), objects are what rises above the
support plane: a robust plane fit gives each pixel's height, pixels higher than ``min_height_mm`` are
foreground, and depth discontinuities split stacked or touching objects (a marker watershed on the
colour image completes the borders). Without depth, foreground is colour that differs from the dominant
background colour (Lab distance to the median of the image border), split by a distance-transform
watershed. Proposals get score 1.0 (the classical segmenter has no confidence).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.common.progress import get_logger
from vision.proposals import Proposal, proposal_from_mask

LOG = get_logger(__name__)


def fit_support_plane(depth: np.ndarray, iterations: int = 4, band_mm: float = 6.0, stride: int = 4) -> np.ndarray:
    """Height of every pixel above the dominant far plane (tote floor / table), in mm.

    Args:
        depth: (H, W) float32 mm, 0 = no measurement.
        iterations: refits; each keeps the pixels within ``band_mm`` above the current plane or below it.
        stride: subsampling of pixels for the fit.

    Returns:
        (H, W) float32 height (positive = closer to the camera than the plane); 0 where depth is 0.
    """
    h, w = depth.shape
    yy, xx = np.mgrid[0:h:stride, 0:w:stride]
    z = depth[::stride, ::stride]
    valid = z > 0
    if valid.sum() < 3:
        return np.zeros_like(depth, dtype=np.float32)
    X = np.stack([xx[valid], yy[valid], np.ones(valid.sum())], axis=1).astype(np.float64)
    zv = z[valid].astype(np.float64)
    keep = zv >= np.percentile(zv, 40)  # start from the far half: the floor
    coef: np.ndarray = np.zeros(3)
    for _ in range(iterations):
        coef, *_ = np.linalg.lstsq(X[keep], zv[keep], rcond=None)
        resid = zv - X @ coef
        keep = resid > -band_mm
    gy, gx = np.mgrid[0:h, 0:w]
    plane = coef[0] * gx + coef[1] * gy + coef[2]
    height = (plane - depth).astype(np.float32)
    height[depth <= 0] = 0.0
    return height


def _fill_invalid(depth: np.ndarray) -> np.ndarray:
    """Replace missing depth (0) by the local median so holes do not cut objects."""
    if not (depth <= 0).any():
        return depth
    med = cv2.medianBlur(depth.astype(np.float32), 5)
    out = depth.copy()
    out[depth <= 0] = med[depth <= 0]
    return out


@dataclass
class ClassicalSegmenter:
    """Depth-plane + watershed segmenter (see module docstring).

    Attributes:
        min_height_mm: minimum height above the support plane for a foreground pixel.
        depth_jump_mm: depth step between neighbouring pixels that separates two objects.
        min_area: components smaller than this many pixels are dropped.
        color_threshold: Lab distance to the background colour for the RGB-only mode (None = Otsu).
    """

    min_height_mm: float = 8.0
    depth_jump_mm: float = 6.0
    min_area: int = 200
    color_threshold: float | None = None

    def segment(self, rgb: np.ndarray, depth: np.ndarray | None = None) -> list[Proposal]:
        """Proposals for ``rgb`` (H, W, 3) uint8; ``depth`` (H, W) float32 mm (0 = missing) if available."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        if depth is not None and depth.shape != rgb.shape[:2]:
            raise ValueError(f"depth shape {depth.shape} does not match image {rgb.shape[:2]}")
        if depth is not None and (depth > 0).mean() > 0.2:
            fg, seeds = self._depth_foreground(depth)
        else:
            fg, seeds = self._color_foreground(rgb)
        return self._watershed(rgb, fg, seeds)

    # ------------------------------------------------------------------------------------ modes
    def _depth_foreground(self, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = cv2.medianBlur(_fill_invalid(depth).astype(np.float32), 5)
        height = fit_support_plane(d)
        fg = height > self.min_height_mm
        fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
        # depth steps between objects (stacked or at different heights) separate the seeds
        gx = cv2.Sobel(d, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(d, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        edges = np.hypot(gx, gy) > self.depth_jump_mm / 2.0
        edges = cv2.dilate(edges.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        seeds = fg & ~edges
        seeds = cv2.erode(seeds.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        return fg, seeds

    def _color_foreground(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lab = cv2.cvtColor(cv2.medianBlur(rgb, 5), cv2.COLOR_RGB2LAB).astype(np.float32)
        h, w = lab.shape[:2]
        b = max(2, int(0.08 * min(h, w)))
        border = np.concatenate([lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3), lab[:, :b].reshape(-1, 3),
                                 lab[:, -b:].reshape(-1, 3)])
        dist = np.linalg.norm(lab - np.median(border, axis=0), axis=2)
        dist8 = np.clip(dist * (255.0 / max(float(dist.max()), 1e-6)), 0, 255).astype(np.uint8)
        if self.color_threshold is None:
            _, fg8 = cv2.threshold(dist8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            fg = fg8 > 0
        else:
            fg = dist > self.color_threshold
        k = np.ones((5, 5), np.uint8)
        fg = cv2.morphologyEx(cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, k), cv2.MORPH_CLOSE, k).astype(bool)
        dt = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, 5)
        seeds = dt > 0.5 * cv2.dilate(dt, np.ones((15, 15), np.uint8)).clip(min=1e-6) * (dt > 2)
        return fg, seeds

    # --------------------------------------------------------------------------------- watershed
    def _watershed(self, rgb: np.ndarray, fg: np.ndarray, seeds: np.ndarray) -> list[Proposal]:
        n, labels = cv2.connectedComponents(seeds.astype(np.uint8), connectivity=4)
        markers: np.ndarray = np.zeros(fg.shape, np.int32)
        markers[labels > 0] = labels[labels > 0] + 1
        sure_bg = ~cv2.dilate(fg.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        markers[sure_bg] = 1
        markers = cv2.watershed(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), markers)
        proposals = []
        for lab in range(2, n + 2):
            m = (markers == lab) & fg
            if m.sum() < self.min_area:
                continue
            m = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)).astype(bool)
            proposals.append(proposal_from_mask(m, 1.0))
        return proposals


def warn_fallback(reason: str) -> ClassicalSegmenter:
    """A :class:`ClassicalSegmenter` after logging a warning that names it and says why it is used."""
    LOG.warning("%s: using the classical OpenCV segmenter (vision.classical.ClassicalSegmenter; tote/tabletop "
                "scenes, depth-plane + watershed) instead of SAM", reason)
    return ClassicalSegmenter()
