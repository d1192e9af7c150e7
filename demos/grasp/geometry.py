"""Grasp geometry from one object mask and a depth image: suction and parallel-jaw grasps as 6-DoF poses.

Camera frame (ROS optical convention): x right, y down, z forward along the viewing ray; units metres.
A grasp pose's z axis is the **approach direction** (the way the tool moves, i.e. into the surface),
its x axis is the jaw closing direction for parallel-jaw grasps; quaternions are ``(x, y, z, w)``.

Inputs everywhere: ``mask (H, W) bool`` object pixels, ``depth (H, W) float32`` metres with NaN (or
<= 0) where invalid, and :class:`Intrinsics`. A grasp that cannot be made returns ``ok=False`` with a
one-line ``reason`` (e.g. no valid depth inside the mask) instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``width x height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def rays(self, u: ArrayLike, v: ArrayLike) -> np.ndarray:
        """Viewing rays with unit z for pixel coordinates ``u, v`` (any shape) -> ``(..., 3)``."""
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        return np.stack([(u - self.cx) / self.fx, (v - self.cy) / self.fy, np.ones_like(u)], axis=-1)

    def backproject(self, u: ArrayLike, v: ArrayLike, z: ArrayLike) -> np.ndarray:
        """Camera-frame points ``(..., 3)`` metres for pixels ``u, v`` at depths ``z``."""
        return self.rays(u, v) * np.asarray(z, dtype=np.float64)[..., None]

    def project(self, points: ArrayLike) -> np.ndarray:
        """Pixel coordinates ``(..., 2)`` of camera-frame points ``(..., 3)``."""
        p = np.asarray(points, dtype=np.float64)
        return np.stack([self.fx * p[..., 0] / p[..., 2] + self.cx, self.fy * p[..., 1] / p[..., 2] + self.cy], axis=-1)

    def to_dict(self) -> dict[str, float]:
        return {"fx": float(self.fx), "fy": float(self.fy), "cx": float(self.cx), "cy": float(self.cy),
                "width": int(self.width), "height": int(self.height)}


@dataclass
class Pose:
    """A 6-DoF pose: ``position (3,)`` metres and unit ``quaternion (4,)`` as ``(x, y, z, w)``."""

    position: np.ndarray
    quaternion: np.ndarray

    def rotation(self) -> np.ndarray:
        """The ``(3, 3)`` rotation matrix (columns = the pose's x, y, z axes in the camera frame)."""
        return quaternion_to_matrix(self.quaternion)

    def to_dict(self) -> dict[str, list[float]]:
        return {"position": [float(v) for v in self.position], "quaternion": [float(v) for v in self.quaternion]}


@dataclass
class GraspParams:
    """Tuning of both grasp types (the YAML ``grasp`` section).

    Attributes:
        suction_patch_px: half-size of the square depth patch the plane is fitted to.
        suction_edge_px: distance from the mask edge (pixels) at which the edge term of the score saturates.
        suction_flat_tol_m: plane-fit RMS residual (metres) at which the flatness term falls to 1/e.
        suction_max_tilt_deg: reject surfaces whose normal is tilted more than this from the camera axis.
        suction_candidates: at most this many candidate pixels are scored per object.
        jaw_max_opening_m: widest object the parallel gripper can close on (0.14 m: a Robotiq 2F-140).
        min_valid_depth_fraction: below this share of mask pixels with valid depth, no grasp is made.
    """

    suction_patch_px: int = 5
    suction_edge_px: float = 8.0
    suction_flat_tol_m: float = 0.002
    suction_max_tilt_deg: float = 60.0
    suction_candidates: int = 400
    jaw_max_opening_m: float = 0.14
    min_valid_depth_fraction: float = 0.05


@dataclass
class Grasp:
    """One grasp proposal for one object.

    Attributes:
        kind: ``"suction"`` or ``"parallel_jaw"``.
        ok: False when no grasp could be made; then ``reason`` says why and the other fields are None.
        pose: camera-frame pose (z axis = approach direction).
        pixel: ``(u, v)`` image point of the grasp (contact point or jaw centre).
        score: quality in ``[0, 1]``.
        width_m: jaw opening for parallel-jaw grasps.
        normal: fitted outward surface normal (pointing towards the camera) for suction grasps.
        details: the terms the score is made of.
    """

    kind: str
    ok: bool
    reason: str = ""
    pose: Pose | None = None
    pixel: tuple[float, float] | None = None
    score: float = 0.0
    width_m: float | None = None
    normal: np.ndarray | None = None
    details: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out: dict = {"kind": self.kind, "ok": self.ok}
        if not self.ok:
            out["reason"] = self.reason
            return out
        out.update(score=round(float(self.score), 4), pixel=[round(float(c), 2) for c in self.pixel or ()])
        out.update(self.pose.to_dict() if self.pose is not None else {})
        if self.width_m is not None:
            out["width_m"] = round(float(self.width_m), 5)
        if self.normal is not None:
            out["normal"] = [round(float(c), 5) for c in self.normal]
        out["details"] = {k: round(float(v), 5) for k, v in self.details.items()}
        return out


# ---------------------------------------------------------------- rotations


def quaternion_from_matrix(R: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` with ``w >= 0`` of a proper rotation matrix ``(3, 3)``."""
    R = np.asarray(R, dtype=np.float64)
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s])
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(max(1.0 + R[i, i] - R[j, j] - R[k, k], 1e-12))
        q = np.zeros(4)
        q[i] = 0.25 * s
        q[j] = (R[j, i] + R[i, j]) / s
        q[k] = (R[k, i] + R[i, k]) / s
        q[3] = (R[k, j] - R[j, k]) / s
    q /= np.linalg.norm(q)
    return q if q[3] >= 0 else -q


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix ``(3, 3)`` of a quaternion ``(x, y, z, w)`` (normalised first)."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def frame_from_approach(approach: np.ndarray, x_hint: np.ndarray) -> np.ndarray:
    """Right-handed rotation whose z column is ``approach`` and x column is ``x_hint`` made orthogonal to it."""
    z = np.asarray(approach, dtype=np.float64)
    z = z / np.linalg.norm(z)
    x = np.asarray(x_hint, dtype=np.float64) - np.dot(x_hint, z) * z
    if np.linalg.norm(x) < 1e-6:  # hint parallel to the approach: any perpendicular axis
        x = np.cross(z, [0.0, 1.0, 0.0] if abs(z[1]) < 0.9 else [1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


# ---------------------------------------------------------------- plane fits


def fit_plane(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares plane through ``points (N, 3)``, N >= 3.

    Returns ``(normal (3,), centroid (3,), rms)``: the unit normal oriented towards the camera
    (``normal . centroid < 0``), and the RMS point-to-plane distance in metres.
    """
    pts = np.asarray(points, dtype=np.float64)
    centroid = pts.mean(axis=0)
    _, s, vt = np.linalg.svd(pts - centroid, full_matrices=False)
    normal = vt[-1]
    if np.dot(normal, centroid) > 0:
        normal = -normal
    rms = float(s[-1] / np.sqrt(len(pts))) if len(s) == 3 else 0.0
    return normal, centroid, rms


def _local_planes(points: np.ndarray, valid: np.ndarray, radius: int) -> tuple[np.ndarray, ...]:
    """Per-pixel plane fits over ``(2r+1)^2`` windows of valid points (box-filtered moments).

    Returns ``(count (H, W), centroid (H, W, 3), covariance (H, W, 3, 3))`` of the valid points in
    each window; the plane normal is the covariance's smallest eigenvector and the RMS residual the
    square root of its smallest eigenvalue.
    """
    k = (2 * radius + 1, 2 * radius + 1)
    w = valid.astype(np.float64)
    p = np.where(valid[..., None], points, 0.0)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, ddepth=cv2.CV_64F, ksize=k, normalize=False, borderType=cv2.BORDER_CONSTANT)

    count = box(w)
    safe = np.maximum(count, 1.0)
    mean = np.stack([box(p[..., i]) for i in range(3)], axis=-1) / safe[..., None]
    cov = np.empty(points.shape[:2] + (3, 3))
    for i in range(3):
        for j in range(i, 3):
            c = box(p[..., i] * p[..., j]) / safe - mean[..., i] * mean[..., j]
            cov[..., i, j] = cov[..., j, i] = c
    return count, mean, cov


def _valid_depth(depth: np.ndarray) -> np.ndarray:
    return np.isfinite(depth) & (depth > 0)


# ---------------------------------------------------------------- grasps


def suction_grasp(mask: np.ndarray, depth: np.ndarray, k: Intrinsics, params: GraspParams | None = None) -> Grasp:
    """Best suction point on the object: inside the mask, away from its edges, on a locally flat patch.

    Candidates are mask pixels with valid depth, preferring those far from the mask edge (distance
    transform). For each candidate a plane is fitted to the valid masked depth points of a
    ``(2r+1)^2`` patch; ``score = edge * flat * tilt`` with ``edge = min(1, d_edge / suction_edge_px)``,
    ``flat = exp(-rms / suction_flat_tol_m)`` and ``tilt = cos(angle(normal, -z))``. The approach is
    ``-normal``; the contact point is where the pixel's ray meets the fitted plane.
    """
    p = params or GraspParams()
    mask = np.asarray(mask, dtype=bool)
    valid = mask & _valid_depth(depth)
    n_mask = int(mask.sum())
    if n_mask == 0:
        return Grasp("suction", False, reason="empty mask")
    if not valid.any():
        return Grasp("suction", False, reason="no valid depth inside the mask")
    if valid.sum() < max(3, p.min_valid_depth_fraction * n_mask):
        return Grasp("suction", False, reason=f"only {int(valid.sum())} of {n_mask} mask pixels have valid depth")
    edge = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    vs, us = np.nonzero(valid)
    d_edge = edge[vs, us]
    order = np.argsort(-d_edge, kind="stable")
    keep = order[: max(p.suction_candidates, 1)]
    vs, us, d_edge = vs[keep], us[keep], d_edge[keep]

    r = p.suction_patch_px
    y0, y1 = max(int(vs.min()) - r, 0), min(int(vs.max()) + r + 1, mask.shape[0])
    x0, x1 = max(int(us.min()) - r, 0), min(int(us.max()) + r + 1, mask.shape[1])
    sub_valid = valid[y0:y1, x0:x1]
    yy, xx = np.mgrid[y0:y1, x0:x1]
    pts = k.backproject(xx, yy, np.where(sub_valid, depth[y0:y1, x0:x1], 0.0))
    count, centroid, cov = _local_planes(pts, sub_valid, r)
    ci, cj = vs - y0, us - x0
    enough = count[ci, cj] >= 3
    if not enough.any():
        return Grasp("suction", False, reason="no depth patch with 3 or more valid points inside the mask")
    ci, cj, us, vs, d_edge = ci[enough], cj[enough], us[enough], vs[enough], d_edge[enough]
    evals, evecs = np.linalg.eigh(cov[ci, cj])
    normals = evecs[:, :, 0]
    normals *= np.where(np.einsum("ni,ni->n", normals, centroid[ci, cj]) > 0, -1.0, 1.0)[:, None]
    rms = np.sqrt(np.clip(evals[:, 0], 0.0, None))
    cos_tilt = np.clip(-normals[:, 2], 0.0, 1.0)
    edge_term = np.minimum(1.0, d_edge / max(p.suction_edge_px, 1e-6))
    flat_term = np.exp(-rms / max(p.suction_flat_tol_m, 1e-9))
    score = edge_term * flat_term * cos_tilt
    score[cos_tilt < np.cos(np.deg2rad(p.suction_max_tilt_deg))] = 0.0
    best = int(np.argmax(score))
    if score[best] <= 0:
        return Grasp("suction", False, reason=f"every candidate surface is tilted more than {p.suction_max_tilt_deg:g} deg")
    n, c = normals[best], centroid[ci[best], cj[best]]
    ray = k.rays(us[best], vs[best])
    point = ray * (np.dot(n, c) / np.dot(n, ray))
    R = frame_from_approach(-n, np.array([1.0, 0.0, 0.0]))
    return Grasp(
        "suction", True, pose=Pose(point, quaternion_from_matrix(R)), pixel=(float(us[best]), float(vs[best])),
        score=float(score[best]), normal=n,
        details={"edge_px": float(d_edge[best]), "plane_rms_m": float(rms[best]),
                 "tilt_deg": float(np.degrees(np.arccos(cos_tilt[best]))),
                 "valid_depth_fraction": float(valid.sum() / n_mask)},
    )


def parallel_jaw_grasp(mask: np.ndarray, depth: np.ndarray, k: Intrinsics, params: GraspParams | None = None) -> Grasp:
    """Parallel-jaw grasp across the object's narrow side.

    The jaw centre is the mask centroid (moved to the nearest mask pixel if the centroid falls
    outside, e.g. for a ring). The jaws close along the minor principal axis of the mask pixels; the
    opening is the mask's extent along that axis through the centre, converted to metres at the
    median object depth. The approach is ``-normal`` of a plane fitted to all valid object points.
    ``score = valid_fraction * (1 - width / jaw_max_opening_m) ** 0.5 * elongation`` with
    ``elongation = 1 - minor_extent / (2 * major_extent)`` in ``[0.5, 1]``.
    """
    p = params or GraspParams()
    mask = np.asarray(mask, dtype=bool)
    n_mask = int(mask.sum())
    if n_mask < 3:
        return Grasp("parallel_jaw", False, reason="mask has fewer than 3 pixels")
    valid = mask & _valid_depth(depth)
    if not valid.any():
        return Grasp("parallel_jaw", False, reason="no valid depth inside the mask")
    frac = float(valid.sum() / n_mask)
    if valid.sum() < 3 or frac < p.min_valid_depth_fraction:
        return Grasp("parallel_jaw", False, reason=f"only {int(valid.sum())} of {n_mask} mask pixels have valid depth")
    vs, us = np.nonzero(mask)
    coords = np.stack([us, vs], axis=1).astype(np.float64)
    centre = coords.mean(axis=0)
    evals, evecs = np.linalg.eigh(np.cov(coords.T) + 1e-9 * np.eye(2))
    minor, major = evecs[:, 0], evecs[:, 1]
    if not mask[int(round(centre[1])), int(round(centre[0]))]:
        centre = coords[int(np.argmin(((coords - centre) ** 2).sum(axis=1)))]
    rel = coords - centre
    along_minor, along_major = rel @ minor, rel @ major
    on_line = np.abs(along_major) <= 1.0
    lo, hi = along_minor[on_line].min(), along_minor[on_line].max()
    minor_px = hi - lo + 1.0
    major_px = along_major.max() - along_major.min() + 1.0
    z = float(np.median(depth[valid]))
    vv, vu = np.nonzero(valid)
    vpts = k.backproject(vu, vv, depth[valid])
    normal, _, rms = fit_plane(vpts) if len(vpts) >= 3 else (np.array([0.0, 0.0, -1.0]), None, 0.0)
    pa, pb = centre + lo * minor, centre + hi * minor
    end_a = k.backproject(pa[0], pa[1], z)
    end_b = k.backproject(pb[0], pb[1], z)
    width = float(np.linalg.norm(end_b - end_a) * minor_px / max(hi - lo, 1e-6)) if hi > lo else float(z / k.fx)
    if width > p.jaw_max_opening_m:
        return Grasp("parallel_jaw", False,
                     reason=f"object is {width:.3f} m across, wider than the {p.jaw_max_opening_m:.3f} m jaw opening")
    mid = centre + 0.5 * (lo + hi) * minor
    position = k.backproject(mid[0], mid[1], z)
    close_dir = k.backproject(mid[0] + minor[0], mid[1] + minor[1], z) - position
    R = frame_from_approach(-normal, close_dir)
    elongation = 1.0 - 0.5 * min(minor_px / major_px, 1.0)
    score = frac * np.sqrt(max(0.0, 1.0 - width / p.jaw_max_opening_m)) * elongation
    return Grasp(
        "parallel_jaw", True, pose=Pose(position, quaternion_from_matrix(R)), pixel=(float(mid[0]), float(mid[1])),
        score=float(score), width_m=width, normal=normal,
        details={"minor_px": float(minor_px), "major_px": float(major_px), "depth_m": z,
                 "valid_depth_fraction": frac, "plane_rms_m": float(rms),
                 "axis_angle_deg": float(np.degrees(np.arctan2(minor[1], minor[0])))},
    )


def object_box(mask: np.ndarray, depth: np.ndarray, k: Intrinsics) -> tuple[Pose, np.ndarray] | None:
    """Oriented 3D box of an object's visible surface, for ``vision_msgs/Detection3D``.

    The box axes are: x = major axis of the valid object points within the fitted surface plane,
    z = the fitted surface normal (pointing towards the camera), y = z x x. The centre is the middle
    of the points' 2-98 % extents along these axes; ``size (3,)`` metres holds those extents (z is the
    thickness of the visible surface only). Returns None when fewer than 3 pixels have valid depth.
    """
    valid = np.asarray(mask, dtype=bool) & _valid_depth(depth)
    if valid.sum() < 3:
        return None
    vs, us = np.nonzero(valid)
    pts = k.backproject(us, vs, depth[valid])
    normal, centroid, _ = fit_plane(pts)
    rel = pts - centroid
    in_plane = rel - np.outer(rel @ normal, normal)
    _, _, vt = np.linalg.svd(in_plane, full_matrices=False)
    major = vt[0] - np.dot(vt[0], normal) * normal
    if np.linalg.norm(major) < 1e-9:
        major = np.array([1.0, 0.0, 0.0])
    R = frame_from_approach(normal, major)
    local = rel @ R
    lo, hi = np.percentile(local, 2, axis=0), np.percentile(local, 98, axis=0)
    centre = centroid + R @ ((lo + hi) / 2)
    return Pose(centre, quaternion_from_matrix(R)), hi - lo
