"""rosbag2 input: topic validation, colour/depth synchronisation, CameraInfo, sizes; the image-folder input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from demos.grasp import messages as M
from demos.grasp.bag import BagReadStats, BagTopics, BagWriter, read_bag_frames
from demos.grasp.frames import load_intrinsics, read_image_folder
from demos.grasp.geometry import Intrinsics
from vision.common.errors import UserError

K = Intrinsics(fx=100.0, fy=100.0, cx=15.5, cy=11.5, width=32, height=24)
T0 = 1_000_000_000_000


def write_bag(path, storage="mcap", rgb_stamps=(0, 100, 200), depth_stamps=(3, 104, 202), info=True,
              depth_size=(24, 32), rgb_topic="/camera/color/image_raw", depth_topic="/camera/depth/image_rect_raw",
              extra=()):
    store = M.make_typestore()
    rng = np.random.default_rng(0)
    with BagWriter(path, storage=storage, store=store) as bag:
        events = [(T0 + int(t * 1e6), "rgb") for t in rgb_stamps] + [(T0 + int(t * 1e6), "depth") for t in depth_stamps]
        for stamp, kind in sorted(events):
            if kind == "rgb":
                if info:
                    bag.write("/camera/color/camera_info", M.camera_info_to_msg(store, K, stamp, "cam"), stamp)
                rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
                bag.write(rgb_topic, M.image_to_msg(store, rgb, "bgr8", stamp, "cam"), stamp)
            else:
                depth = np.full(depth_size, 0.75, np.float32)
                bag.write(depth_topic, M.depth_to_msg(store, depth, "32FC1", stamp, "cam"), stamp)
        for topic in extra:
            bag.write(topic, M.string_msg(store, "x"), T0)
    return path


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_synchronises_colour_and_depth(tmp_path, storage) -> None:
    bag = write_bag(tmp_path / "b", storage, rgb_stamps=(0, 100, 200, 300), depth_stamps=(3, 104, 250, 302))
    stats = BagReadStats()
    frames = list(read_bag_frames(bag, stats=stats, tolerance_ms=10))
    assert [f.stamp_ns for f in frames] == [T0, T0 + 100_000_000, T0 + 300_000_000]
    assert stats.unmatched_rgb == 1 and stats.unmatched_depth == 1 and stats.frames == 3
    f = frames[0]
    assert f.rgb.shape == (24, 32, 3) and f.depth.shape == (24, 32)
    assert f.intrinsics == K and f.frame_id == "cam"
    np.testing.assert_allclose(f.depth, 0.75)


def test_no_pair_within_tolerance(tmp_path) -> None:
    bag = write_bag(tmp_path / "b", rgb_stamps=(0,), depth_stamps=(50,))
    with pytest.raises(UserError, match="no colour/depth pair within 20 ms"):
        list(read_bag_frames(bag))


def test_bag_without_needed_topics_lists_its_topics(tmp_path) -> None:
    bag = write_bag(tmp_path / "b", depth_topic="/camera/ir/image", extra=("/chatter",))
    with pytest.raises(UserError) as err:
        list(read_bag_frames(bag))
    text = err.value.one_line()
    assert "cannot find the colour image topic" in text or "cannot find the depth image topic" in text
    for topic in ("/camera/color/image_raw", "/camera/ir/image", "/camera/color/camera_info", "/chatter"):
        assert topic in text
    assert "\n" not in text
    with pytest.raises(UserError, match="bag has no depth image topic '/nope'; its topics: .*/chatter"):
        list(read_bag_frames(bag, BagTopics(depth="/nope")))
    with pytest.raises(UserError, match="has type std_msgs/msg/String, expected sensor_msgs/msg/Image"):
        list(read_bag_frames(bag, BagTopics(depth="/chatter")))
    # naming the topic explicitly works
    assert len(list(read_bag_frames(bag, BagTopics(depth="/camera/ir/image")))) == 3


def test_missing_camera_info_needs_intrinsics(tmp_path) -> None:
    bag = write_bag(tmp_path / "b", info=False)
    with pytest.raises(UserError, match="no sensor_msgs/msg/CameraInfo messages; pass --intrinsics"):
        list(read_bag_frames(bag))
    frames = list(read_bag_frames(bag, intrinsics=K))
    assert len(frames) == 3 and frames[0].intrinsics == K


def test_mismatched_rgb_and_depth_sizes(tmp_path) -> None:
    bag = write_bag(tmp_path / "b", depth_size=(12, 16))
    with pytest.raises(UserError, match="rgb image is 32x24 but depth image is 16x12"):
        list(read_bag_frames(bag))


def test_not_a_bag(tmp_path) -> None:
    with pytest.raises(UserError, match="rosbag2 folder does not exist"):
        list(read_bag_frames(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a rosbag2 folder"):
        list(read_bag_frames(tmp_path / "empty"))


def test_scene_bag_carries_ground_truth(scene_bag) -> None:
    frames = list(read_bag_frames(scene_bag))
    assert len(frames) == 3
    for f in frames:
        assert f.truth is not None and f.truth.objects
        ids = set(np.unique(f.truth.instances)) - {0}
        assert ids == set(f.truth.objects)
        visible = {o["product_id"] for o in f.truth.objects.values()}
        assert f.manifest is not None and visible <= set(f.manifest) and len(f.manifest) == len(visible) + 2
        for inst, obj in f.truth.objects.items():
            # the true top-face plane explains the depth inside the object's mask (mm quantisation + noise)
            m = (f.truth.instances == inst) & np.isfinite(f.depth)
            vs, us = np.nonzero(m)
            pts = f.intrinsics.backproject(us, vs, f.depth[m])
            resid = (pts - np.asarray(obj["position"])) @ np.asarray(obj["normal"])
            assert np.median(np.abs(resid)) < 0.002


# ---------------------------------------------------------------- image folders


def write_folder(root, depth_shape=(24, 32)):
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(root / "rgb" / f"{name}.png"), np.full((24, 32, 3), 90, np.uint8))
        cv2.imwrite(str(root / "depth" / f"{name}.png"), np.full(depth_shape, 750, np.uint16))
    (root / "K.json").write_text(json.dumps({**K.to_dict(), "depth_scale": 1.0}))


def test_image_folder_input(tmp_path) -> None:
    write_folder(tmp_path / "imgs")
    frames = list(read_image_folder(tmp_path / "imgs", tmp_path / "imgs" / "K.json"))
    assert [f.name for f in frames] == ["a", "b"]
    np.testing.assert_allclose(frames[0].depth, 0.75)
    assert frames[0].intrinsics == K


def test_image_folder_bad_inputs(tmp_path) -> None:
    write_folder(tmp_path / "imgs", depth_shape=(12, 16))
    with pytest.raises(UserError, match="rgb image is 32x24 but depth image is 16x12"):
        list(read_image_folder(tmp_path / "imgs", tmp_path / "imgs" / "K.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fx": 1, "fy": 1, "cx": 0}))
    with pytest.raises(UserError, match="intrinsics key 'cy' is missing"):
        load_intrinsics(bad)
    bad.write_text("{oops")
    with pytest.raises(UserError, match="not valid JSON"):
        load_intrinsics(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"K": [100, 0, 10, 0, 100, 10, 0, 0, 1], "width": 64, "height": 48}))
    write_folder(tmp_path / "good")
    with pytest.raises(UserError, match="intrinsics are for 64x48 images but a.png is 32x24"):
        list(read_image_folder(tmp_path / "good", other))
    (tmp_path / "none").mkdir()
    with pytest.raises(UserError, match="no colour images"):
        list(read_image_folder(tmp_path / "none", other))


def test_unreadable_images_are_skipped_and_counted(tmp_path) -> None:
    write_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "rgb" / "c.png").write_bytes(b"not a png")
    stats: dict = {}
    frames = list(read_image_folder(tmp_path / "imgs", tmp_path / "imgs" / "K.json", stats=stats))
    assert [f.name for f in frames] == ["a", "b"]
    assert stats["frames"] == 2 and stats["skipped"] == 1 and "c.png" in stats["skipped_files"][0]
    for name in ("a", "b"):
        (tmp_path / "imgs" / "rgb" / f"{name}.png").write_bytes(b"")
    with pytest.raises(UserError, match="none of the 3 images could be read"):
        list(read_image_folder(tmp_path / "imgs", tmp_path / "imgs" / "K.json"))


def test_bad_encoding_names_bag_and_topic(tmp_path) -> None:
    store = M.make_typestore()
    path = tmp_path / "b"
    with BagWriter(path, storage="sqlite3", store=store) as bag:
        bag.write("/camera/color/camera_info", M.camera_info_to_msg(store, K, T0, "cam"), T0)
        bag.write("/camera/color/image_raw", M.image_to_msg(store, np.zeros((24, 32, 3), np.uint8), "rgb8", T0, "c"), T0)
        wrong = M.image_to_msg(store, np.zeros((24, 32), np.uint8), "mono8", T0, "c")  # mono8 is not depth
        bag.write("/camera/depth/image_rect_raw", wrong, T0)
    with pytest.raises(UserError) as err:
        list(read_bag_frames(path))
    text = err.value.one_line()
    assert text.startswith(str(path)) and "topic /camera/depth/image_rect_raw" in text and "'mono8'" in text


def test_scene_generator_refuses_empty_requests(tmp_path, capsys) -> None:
    """--frames 0/-2 used to write an empty bag and report success; --catalog-size 0 raised a ValueError."""
    from demos.cli import main
    from demos.grasp.scene import write_scene_bag

    for extra, message in [(["--frames", "0"], "--frames must be at least 1"),
                           (["--frames", "-2"], "--frames must be at least 1"),
                           (["--catalog-size", "0"], "--catalog-size must be at least 1")]:
        assert main(["demo", "grasp-scene", "--out", str(tmp_path / "bag"), *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not (tmp_path / "bag").exists()
    with pytest.raises(UserError, match="at least one frame"):
        write_scene_bag(tmp_path / "bag", [], 3, 0)
    assert not (tmp_path / "bag").exists()
