"""ROS 2 message conversions and their round trip through real rosbag2 files (sqlite3 and MCAP)."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from demos.grasp import messages as M
from demos.grasp.bag import BagWriter
from demos.grasp.geometry import Intrinsics, Pose
from vision.common.errors import UserError

STAMP = 1_700_000_123_456_789_012
K = Intrinsics(fx=500.0, fy=510.0, cx=31.5, cy=23.5, width=64, height=48)


@pytest.fixture(scope="module")
def store():
    return M.make_typestore()


def _sample(rng: np.random.Generator):
    rgb = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    depth = rng.uniform(0.3, 2.0, size=(48, 64)).astype(np.float32)
    depth[5, 7] = np.nan
    poses = [Pose(rng.normal(size=3), np.array([0.0, 0.0, np.sin(0.3), np.cos(0.3)])) for _ in range(3)]
    records = [M.DetectionRecord("f/0", "P0003", 0.91, (3.0, 4.0, 20.0, 10.0), poses[0], (0.1, 0.2, 0.05)),
               M.DetectionRecord("f/1", "P0001", 0.5, (30.0, 14.0, 8.0, 6.0), poses[1], (0.0, 0.0, 0.0))]
    return rgb, depth, poses, records


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_round_trip_through_rosbag2(tmp_path, store, storage) -> None:
    rgb, depth, poses, records = _sample(np.random.default_rng(0))
    path = tmp_path / f"bag_{storage}"
    with BagWriter(path, storage=storage, store=store) as bag:
        bag.write("/rgb", M.image_to_msg(store, rgb, "rgb8", STAMP, "cam"), STAMP)
        bag.write("/bgr", M.image_to_msg(store, rgb, "bgr8", STAMP, "cam"), STAMP)
        bag.write("/depth16", M.depth_to_msg(store, depth, "16UC1", STAMP, "cam"), STAMP)
        bag.write("/depth32", M.depth_to_msg(store, depth, "32FC1", STAMP, "cam"), STAMP)
        bag.write("/info", M.camera_info_to_msg(store, K, STAMP, "cam"), STAMP)
        bag.write("/poses", M.pose_array_to_msg(store, poses, STAMP, "cam"), STAMP)
        bag.write("/det2d", M.detections_2d_to_msg(store, records, STAMP, "cam"), STAMP)
        bag.write("/det3d", M.detections_3d_to_msg(store, records, STAMP, "cam"), STAMP)
    expected_file = path / f"{path.name}.{'db3' if storage == 'sqlite3' else 'mcap'}"
    assert expected_file.exists()

    fresh = M.make_typestore()  # a reader that never saw our objects
    got = {}
    with Reader(path) as reader:
        M.register_bag_types(fresh, reader.connections)
        for conn, t, raw in reader.messages():
            assert t == STAMP
            got[conn.topic] = fresh.deserialize_cdr(raw, conn.msgtype)
        assert reader.topics["/det2d"].msgtype == "vision_msgs/msg/Detection2DArray"
        assert "vision_msgs/BoundingBox2D bbox" in reader.topics["/det2d"].msgdef.data
    assert M.stamp_ns(got["/rgb"]) == STAMP and got["/rgb"].header.frame_id == "cam"
    np.testing.assert_array_equal(M.rgb_from_msg(got["/rgb"]), rgb)
    np.testing.assert_array_equal(M.rgb_from_msg(got["/bgr"]), rgb)
    assert bytes(got["/bgr"].data[:3]) == bytes(rgb[0, 0, ::-1])  # really stored as BGR
    d16 = M.depth_from_msg(got["/depth16"])
    d32 = M.depth_from_msg(got["/depth32"])
    valid = np.isfinite(depth)
    assert np.isnan(d16[5, 7]) and np.isnan(d32[5, 7])
    np.testing.assert_allclose(d16[valid], depth[valid], atol=0.0005 + 1e-6)  # millimetre quantisation
    np.testing.assert_array_equal(d32[valid], depth[valid])
    assert M.intrinsics_from_msg(got["/info"]) == K
    for a, b in zip(M.poses_from_msg(got["/poses"]), poses, strict=True):
        np.testing.assert_allclose(a.position, b.position)
        np.testing.assert_allclose(a.quaternion, b.quaternion)
    dets = M.detections_2d_from_msg(got["/det2d"])
    assert [(d.object_id, d.product_id) for d in dets] == [("f/0", "P0003"), ("f/1", "P0001")]
    np.testing.assert_allclose(dets[0].bbox, records[0].bbox)
    assert dets[0].score == pytest.approx(0.91)
    d3 = M.detections_3d_from_msg(got["/det3d"])
    np.testing.assert_allclose(d3[0].pose.position, poses[0].position)
    assert d3[0].size == pytest.approx((0.1, 0.2, 0.05))


def test_row_padding_and_big_endian_depth(store) -> None:
    depth_mm = np.array([[1000, 0, 1500], [2000, 2500, 65535]], dtype=">u2")
    msg = M.image_to_msg(store, np.zeros((2, 3), np.uint16), "16UC1", 0, "c")
    msg.is_bigendian = 1
    msg.step = 8  # 6 data bytes + 2 bytes padding per row
    rows = np.zeros((2, 8), np.uint8)
    rows[:, :6] = depth_mm.view(np.uint8).reshape(2, 6)
    msg.data = rows.reshape(-1)
    d = M.depth_from_msg(msg)
    np.testing.assert_allclose(d[0, [0, 2]], [1.0, 1.5])
    assert np.isnan(d[0, 1])
    assert d[1, 2] == pytest.approx(65.535)


def test_unsupported_and_truncated_images(store) -> None:
    rgb = np.zeros((4, 5, 3), np.uint8)
    msg = M.image_to_msg(store, rgb, "rgb8", 0, "c")
    with pytest.raises(UserError, match="expected one of 16UC1"):
        M.depth_from_msg(msg)
    msg.encoding = "yuv422"
    with pytest.raises(UserError, match="colour image has encoding 'yuv422'"):
        M.rgb_from_msg(msg)
    msg.encoding = "rgb8"
    msg.data = msg.data[:10]
    with pytest.raises(UserError, match="truncated"):
        M.rgb_from_msg(msg)
    info = M.camera_info_to_msg(store, K, 0, "c")
    info.k = np.zeros(9)
    with pytest.raises(UserError, match="no valid intrinsic matrix"):
        M.intrinsics_from_msg(info)
