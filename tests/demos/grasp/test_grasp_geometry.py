"""Grasp geometry on synthetic depth with known planes and normals."""

from __future__ import annotations

import numpy as np
import pytest

from demos.grasp.geometry import (
    GraspParams,
    Intrinsics,
    fit_plane,
    frame_from_approach,
    parallel_jaw_grasp,
    quaternion_from_matrix,
    quaternion_to_matrix,
    suction_grasp,
)

K = Intrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)


def plane_depth(normal: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Exact depth of the plane through ``point`` with ``normal`` for every pixel of K."""
    yy, xx = np.mgrid[0 : K.height, 0 : K.width]
    rays = np.stack([(xx - K.cx) / K.fx, (yy - K.cy) / K.fy, np.ones_like(xx, dtype=float)], axis=-1)
    return (np.dot(normal, point) / (rays @ normal)).astype(np.float32)


def tilted(deg: float, azimuth_deg: float) -> np.ndarray:
    t, a = np.deg2rad(deg), np.deg2rad(azimuth_deg)
    return np.array([np.sin(t) * np.cos(a), np.sin(t) * np.sin(a), -np.cos(t)])


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


@pytest.mark.parametrize(("tilt", "azimuth"), [(0.0, 0.0), (20.0, 0.0), (35.0, 90.0), (45.0, 210.0)])
def test_suction_recovers_plane_normal_and_point(tilt: float, azimuth: float) -> None:
    n = tilted(tilt, azimuth)
    centre = np.array([0.02, -0.01, 0.7])
    depth = plane_depth(n, centre)
    mask = np.zeros(depth.shape, bool)
    mask[80:160, 110:210] = True
    g = suction_grasp(mask, depth, K)
    assert g.ok, g.reason
    assert angle_deg(g.normal, n) < 0.5
    # approach (pose z axis) is into the surface, opposite to the camera-facing normal
    R = g.pose.rotation()
    assert angle_deg(R[:, 2], -n) < 0.5
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)
    assert abs(np.dot(n, g.pose.position - centre)) < 1e-4  # the contact point lies on the plane
    u, v = g.pixel
    assert 110 + 8 <= u < 210 - 8 and 80 + 8 <= v < 160 - 8  # away from the mask edges
    expected_score = np.cos(np.deg2rad(tilt))  # flat and far from edges: only the tilt term remains
    assert g.score == pytest.approx(expected_score, abs=0.01)


def test_suction_prefers_the_flat_part_of_an_object() -> None:
    depth = plane_depth(np.array([0.0, 0.0, -1.0]), np.array([0.0, 0.0, 0.6]))
    rng = np.random.default_rng(0)
    mask = np.zeros(depth.shape, bool)
    mask[60:180, 40:280] = True
    depth[60:180, 40:160] += rng.normal(0, 0.01, size=(120, 120)).astype(np.float32)  # rough left half
    g = suction_grasp(mask, depth, K, GraspParams(suction_candidates=5000))
    assert g.ok and g.pixel[0] >= 160
    assert g.details["plane_rms_m"] < 1e-4


def test_fit_plane_orientation_and_residual() -> None:
    rng = np.random.default_rng(1)
    n = tilted(30, 45)
    basis = np.linalg.svd(n[None])[2][1:]
    pts = np.array([0, 0, 1.0]) + rng.normal(size=(500, 2)) @ basis + rng.normal(0, 0.001, size=(500, 1)) * n
    normal, centroid, rms = fit_plane(pts)
    assert angle_deg(normal, n) < 0.5 and normal[2] < 0
    assert rms == pytest.approx(0.001, rel=0.15)


def test_no_valid_depth_gives_no_grasp_with_a_reason() -> None:
    mask = np.zeros((240, 320), bool)
    mask[50:100, 50:100] = True
    depth = np.full((240, 320), 0.8, np.float32)
    depth[mask] = np.nan
    for fn in (suction_grasp, parallel_jaw_grasp):
        g = fn(mask, depth, K)
        assert not g.ok and g.reason == "no valid depth inside the mask"
        assert g.to_dict() == {"kind": g.kind, "ok": False, "reason": "no valid depth inside the mask"}
    depth[mask] = 0.0  # 0 means no measurement too
    assert suction_grasp(mask, depth, K).reason == "no valid depth inside the mask"
    assert suction_grasp(np.zeros_like(mask), depth, K).reason == "empty mask"


def test_suction_rejects_steep_surfaces() -> None:
    depth = plane_depth(tilted(75, 0), np.array([0, 0, 0.7]))
    mask = np.zeros(depth.shape, bool)
    mask[100:140, 140:180] = True
    g = suction_grasp(mask, depth, K)
    assert not g.ok and "tilted more than 60" in g.reason


def test_parallel_jaw_closes_across_the_narrow_side() -> None:
    z = 0.5
    depth = np.full((240, 320), z, np.float32)
    mask = np.zeros(depth.shape, bool)
    mask[100:130, 60:260] = True  # 200 px long (x), 30 px wide (y)
    g = parallel_jaw_grasp(mask, depth, K)
    assert g.ok, g.reason
    assert g.width_m == pytest.approx(30 * z / K.fx, rel=0.02)
    R = g.pose.rotation()
    assert abs(R[1, 0]) > 0.999  # jaws close along image y
    assert angle_deg(R[:, 2], [0, 0, 1]) < 0.5  # straight down the camera axis onto a fronto-parallel top
    np.testing.assert_allclose(g.pixel, (159.5, 114.5), atol=0.6)
    np.testing.assert_allclose(g.pose.position, K.backproject(159.5, 114.5, z), atol=1e-3)
    # rotated 90 degrees: jaws along x
    upright = np.zeros(depth.shape, bool)
    upright[20:220, 150:180] = True
    g2 = parallel_jaw_grasp(upright, depth, K)
    assert g2.ok and abs(g2.pose.rotation()[0, 0]) > 0.999


def test_parallel_jaw_refuses_objects_wider_than_the_gripper() -> None:
    depth = np.full((240, 320), 0.5, np.float32)
    mask = np.zeros(depth.shape, bool)
    mask[40:200, 60:260] = True  # 160 px * 0.5 / 300 = 0.27 m across
    g = parallel_jaw_grasp(mask, depth, K, GraspParams(jaw_max_opening_m=0.1))
    assert not g.ok and "wider than the 0.100 m jaw opening" in g.reason


def test_quaternions_round_trip() -> None:
    rng = np.random.default_rng(2)
    for _ in range(20):
        R = frame_from_approach(rng.normal(size=3), rng.normal(size=3))
        q = quaternion_from_matrix(R)
        assert np.linalg.norm(q) == pytest.approx(1.0) and q[3] >= 0
        np.testing.assert_allclose(quaternion_to_matrix(q), R, atol=1e-9)
    np.testing.assert_allclose(quaternion_from_matrix(np.diag([1.0, -1.0, -1.0])), [1, 0, 0, 0], atol=1e-12)


def test_vectorised_suction_search_matches_per_candidate_svd() -> None:
    """The box-filtered plane fits give the same best score as one SVD per candidate patch."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "grasp_bench.py"
    spec = importlib.util.spec_from_file_location("grasp_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = np.random.default_rng(4)
    depth = plane_depth(tilted(25, 30), np.array([0.0, 0.0, 0.7]))
    depth += rng.normal(0, 0.002, size=depth.shape).astype(np.float32) * (np.arange(320) > 160)
    depth[rng.random(depth.shape) < 0.05] = np.nan
    mask = np.zeros(depth.shape, bool)
    mask[70:170, 100:230] = True
    params = GraspParams(suction_candidates=300)
    g = suction_grasp(mask, depth, K, params)
    # moments in float64 lose a little to cancellation: equal to 1e-4 of the score, not bitwise
    assert g.score == pytest.approx(bench.suction_bruteforce(mask, depth, K, params), abs=1e-4)


def test_object_box_of_a_tilted_rectangle() -> None:
    from demos.grasp.geometry import object_box

    n = tilted(20, 0)
    centre = np.array([0.0, 0.0, 0.6])
    depth = plane_depth(n, centre)
    mask = np.zeros(depth.shape, bool)
    mask[100:140, 80:240] = True  # long along image x
    pose, size = object_box(mask, depth, K)
    R = pose.rotation()
    assert angle_deg(R[:, 2], n) < 0.5  # z = surface normal towards the camera
    assert abs(R[0, 0]) > 0.9  # x = the long side
    assert size[0] > 3 * size[1] and size[2] < 1e-4
    # the box centre lies on the surface, and the long side spans (2-98 % of) the rectangle's 3D length
    assert abs(np.dot(n, pose.position - centre)) < 1e-4
    u, v = K.project(pose.position)
    assert 80 < u < 240 and 100 < v < 140
    ends = [K.backproject(x, 119.5, depth[119, x]) for x in (80, 239)]
    length = np.linalg.norm(ends[1] - ends[0])
    assert 0.9 * length < size[0] < length
    assert object_box(mask, np.full_like(depth, np.nan), K) is None
