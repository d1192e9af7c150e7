"""`edgevision demo grasp` / `demo grasp-scene` end to end, the node's outputs, and every bad input of the issue."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from demos.cli import main
from demos.grasp import messages as M
from demos.grasp.geometry import GraspParams
from demos.grasp.node import GraspNode
from demos.grasp.scene import SceneConfig, render_scene


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory, scene_bag, armbench_root, embedder_ckpt):
    out = tmp_path_factory.mktemp("demo") / "out"
    code = main(["demo", "grasp", "--bag", str(scene_bag), "--references", str(armbench_root),
                 "--checkpoint", str(embedder_ckpt), "--out", str(out)])
    assert code == 0
    return out


def test_demo_writes_bag_json_png(demo_out) -> None:
    report = json.loads((demo_out / "report.json").read_text())
    frames = json.loads((demo_out / "detections.json").read_text())["frames"]
    assert report["frames"] == len(frames) == 3
    assert sorted(p.name for p in (demo_out / "annotated").iterdir()) == [f"frame_00000{i}.png" for i in range(3)]
    assert (demo_out / "config.yaml").exists()
    gt = report["ground_truth"]
    assert gt["gt_objects"] > 0 and 0.0 <= gt["identification_accuracy"] <= 1.0
    # geometry + segmentation alone: grasp points land on the object whose mask they came from
    assert gt["grasp_on_segmented_object"] >= 0.9
    assert gt["suction_normal_error_deg_median"] < 3.0
    assert set(report["timings"]["mean_ms"]) == {"segment", "identify", "grasp", "annotate", "publish", "total"}
    assert report["timings"]["fps"] > 0

    store = M.make_typestore()
    msgs: dict[str, list] = {}
    with Reader(demo_out / "detections.mcap") as reader:
        assert any(p.suffix == ".mcap" for p in (demo_out / "detections.mcap").iterdir())
        types = {t: info.msgtype for t, info in reader.topics.items()}
        for conn, _, raw in reader.messages():
            msgs.setdefault(conn.topic, []).append(store.deserialize_cdr(raw, conn.msgtype))
    assert types == {
        "/edgevision/detections": "vision_msgs/msg/Detection2DArray",
        "/edgevision/detections_3d": "vision_msgs/msg/Detection3DArray",
        "/edgevision/grasps/suction": "geometry_msgs/msg/PoseArray",
        "/edgevision/grasps/parallel_jaw": "geometry_msgs/msg/PoseArray",
        "/edgevision/annotated": "sensor_msgs/msg/Image",
    }
    for i, frame in enumerate(frames):
        dets = M.detections_2d_from_msg(msgs["/edgevision/detections"][i])
        assert [d.product_id for d in dets] == [o["product_id"] for o in frame["objects"]]
        boxes = M.detections_3d_from_msg(msgs["/edgevision/detections_3d"][i])
        assert [b.product_id for b in boxes] == [d.product_id for d in dets]
        assert all(0 < b.size[0] < 0.5 and b.size[1] <= 1.3 * b.size[0] and 0.5 < b.pose.position[2] < 0.9 for b in boxes)
        suction = M.poses_from_msg(msgs["/edgevision/grasps/suction"][i])
        ok = [o["suction"] for o in frame["objects"] if o["suction"]["ok"]]
        assert len(suction) == len(ok)
        for pose, js in zip(suction, ok, strict=True):
            np.testing.assert_allclose(pose.position, js["position"], atol=1e-9)
        img = M.rgb_from_msg(msgs["/edgevision/annotated"][i])
        assert img.shape == (240, 320, 3)
        assert M.stamp_ns(msgs["/edgevision/annotated"][i]) == frame["stamp_ns"]


def test_products_filter_and_overwrite(demo_out, scene_bag, armbench_root, embedder_ckpt, capsys) -> None:
    frames = json.loads((demo_out / "detections.json").read_text())["frames"]
    wanted = frames[0]["objects"][0]["product_id"]
    args = ["demo", "grasp", "--bag", str(scene_bag), "--references", str(armbench_root),
            "--checkpoint", str(embedder_ckpt), "--out", str(demo_out), "--products", wanted]
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--storage", "sqlite3"]) == 0
    got = json.loads((demo_out / "detections.json").read_text())["frames"]
    ids = {o["product_id"] for f in got for o in f["objects"]}
    assert ids == {wanted}
    assert (demo_out / "detections.sqlite3" / "metadata.yaml").exists()
    report = json.loads((demo_out / "report.json").read_text())
    assert report["objects_skipped"]["not_requested"] > 0


def test_bad_inputs_are_one_line_errors(tmp_path, scene_bag, armbench_root, embedder_ckpt, capsys) -> None:
    base = ["--checkpoint", str(embedder_ckpt), "--out", str(tmp_path / "o")]
    empty = tmp_path / "refs"
    (empty / "P0001").mkdir(parents=True)
    cases = [
        (["--bag", str(scene_bag), "--references", str(empty)], "gallery is empty"),
        (["--bag", str(scene_bag), "--references", str(armbench_root), "--products", "P9999"],
         "requested products not in the gallery: P9999"),
        (["--images", str(tmp_path), "--references", str(armbench_root)], "--images needs --intrinsics"),
        (["--bag", str(tmp_path), "--references", str(armbench_root)], "not a rosbag2 folder"),
        (["--bag", str(scene_bag), "--references", str(armbench_root), "--rgb-topic", "/x"],
         "bag has no colour image topic '/x'; its topics: /camera/color/camera_info"),
    ]
    for extra, message in cases:
        assert main(["demo", "grasp", *extra, *base]) == 2, message
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
        assert not (tmp_path / "o").exists()


def test_scene_without_camera_info_needs_intrinsics(tmp_path, armbench_root, embedder_ckpt, capsys) -> None:
    bag = tmp_path / "bag"
    assert main(["demo", "grasp-scene", "--out", str(bag), "--frames", "1", "--references", str(armbench_root),
                 "--catalog-seed", "3", "--no-camera-info", "--storage", "sqlite3"]) == 0
    capsys.readouterr()
    args = ["demo", "grasp", "--bag", str(bag), "--references", str(armbench_root),
            "--checkpoint", str(embedder_ckpt), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert "no sensor_msgs/msg/CameraInfo messages; pass --intrinsics K.json" in capsys.readouterr().err
    k = SceneConfig().intrinsics()
    (tmp_path / "K.json").write_text(json.dumps(k.to_dict()))
    assert main([*args, "--intrinsics", str(tmp_path / "K.json")]) == 0
    assert json.loads((tmp_path / "o" / "report.json").read_text())["frames"] == 1


@pytest.fixture(scope="module")
def identifier(armbench_root, embedder_ckpt):
    from demos.grasp.run import build_identifier

    return build_identifier(embedder_ckpt, references=armbench_root)[0]


def test_node_reports_objects_without_depth(armbench_root, identifier) -> None:
    from demos.grasp.quickstart import catalog_from_armbench
    from vision.classical import ClassicalSegmenter

    cfg = SceneConfig(no_depth_objects=0.5, objects=(4, 4))
    frame = render_scene(catalog_from_armbench(armbench_root, 3), np.random.default_rng(3), cfg)
    published = []
    node = GraspNode(ClassicalSegmenter(), identifier, GraspParams(),
                     publish=lambda topic, msg, stamp: published.append((topic, msg.__msgtype__)))
    assert node.input_topics["depth"] == "/camera/depth/image_rect_raw"
    out = node.callback(frame)
    assert [t for t, _ in published] == list(node.output_topics)
    assert all(node.output_topics[t] == mt for t, mt in published)
    no_depth = [o for o in frame.truth.objects.values() if o["no_depth"]]
    assert no_depth, "seed should give at least one object without depth"
    reasons = [o.suction.reason for o in out.objects if not o.suction.ok]
    assert "no valid depth inside the mask" in reasons or len(out.objects) < len(frame.truth.objects)
    assert all(o.suction.ok or o.suction.reason for o in out.objects)
    node.products = {"no-such-product"}
    assert node.callback(frame).objects == []


def test_tote_manifest_restricts_identification(armbench_root, identifier) -> None:
    from demos.grasp.quickstart import catalog_from_armbench
    from vision.classical import ClassicalSegmenter

    frame = render_scene(catalog_from_armbench(armbench_root, 3), np.random.default_rng(7), SceneConfig())
    visible = {o["product_id"] for o in frame.truth.objects.values()}
    assert frame.manifest is not None and visible < set(frame.manifest)  # plus hidden distractors
    node = GraspNode(ClassicalSegmenter(), identifier, top_k=20)
    out = node.callback(frame)
    assert out.objects
    for obj in out.objects:
        assert {p for p, _ in obj.ranked} <= set(frame.manifest)
        assert obj.open_set is not None
        best = identifier.gallery.search(identifier.embedder.embed([_crop(frame, obj)])[0], k=1)[0]
        assert obj.open_set[0] == best[0]
    node.use_manifest = False
    free = node.callback(frame)
    assert all(o.open_set is None for o in free.objects)
    assert any(not {p for p, _ in o.ranked} <= set(frame.manifest) for o in free.objects)


def _crop(frame, obj):
    from vision.crops import crop_object

    return crop_object(frame.rgb, obj.mask, pad=0.1)


def test_image_folder_input_end_to_end(tmp_path, armbench_root, embedder_ckpt) -> None:
    import cv2

    from demos.grasp.frames import write_intrinsics
    from demos.grasp.quickstart import catalog_from_armbench

    folder = tmp_path / "imgs"
    folder.mkdir()
    frame = render_scene(catalog_from_armbench(armbench_root, 3), np.random.default_rng(5), SceneConfig())
    cv2.imwrite(str(folder / "shot.png"), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    mm = np.where(np.isfinite(frame.depth), np.round(frame.depth * 1000), 0).astype(np.uint16)
    cv2.imwrite(str(folder / "shot_depth.png"), mm)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    write_intrinsics(tmp_path / "K.json", frame.intrinsics)
    out = tmp_path / "out"
    assert main(["demo", "grasp", "--images", str(folder), "--intrinsics", str(tmp_path / "K.json"),
                 "--references", str(armbench_root), "--checkpoint", str(embedder_ckpt), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 1 and report["frames_skipped"] == 1 and report["ground_truth"] is None
    objs = json.loads((out / "detections.json").read_text())["frames"][0]["objects"]
    assert len(objs) == len(frame.truth.objects)
    assert all(o["suction"]["ok"] for o in objs)
    assert (out / "annotated" / "shot.png").exists()


def test_annotated_pngs_of_frames_sharing_a_stem_do_not_overwrite_each_other(tmp_path, armbench_root, embedder_ckpt) -> None:
    """a.png and a.jpg were both written to annotated/a.png: the second silently replaced the first."""
    import cv2

    from demos.grasp.frames import write_intrinsics
    from demos.grasp.quickstart import catalog_from_armbench

    folder = tmp_path / "imgs"
    folder.mkdir()
    frame = render_scene(catalog_from_armbench(armbench_root, 2), np.random.default_rng(6), SceneConfig())
    bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(folder / "a.png"), bgr)
    cv2.imwrite(str(folder / "a.jpg"), np.ascontiguousarray(bgr[:, ::-1]))  # another picture, same stem
    write_intrinsics(tmp_path / "K.json", frame.intrinsics)
    out = tmp_path / "out"
    assert main(["demo", "grasp", "--images", str(folder), "--intrinsics", str(tmp_path / "K.json"),
                 "--references", str(armbench_root), "--checkpoint", str(embedder_ckpt), "--out", str(out)]) == 0
    frames = json.loads((out / "detections.json").read_text())["frames"]
    pngs = [f["annotated_png"] for f in frames]
    assert len(frames) == 2 and len(set(pngs)) == 2 and sorted(pngs) == ["annotated/a.png", "annotated/a_2.png"]
    assert sorted(p.name for p in (out / "annotated").iterdir()) == ["a.png", "a_2.png"]
    first, second = (cv2.imread(str(out / p)) for p in pngs)
    assert not np.array_equal(first, second)


def test_sam_segmenter_is_used_when_a_checkpoint_is_given(tmp_path, identifier) -> None:
    from demos.grasp.config import SegmentConfig
    from demos.grasp.run import build_segmenter
    from identification.fixture import make_catalog
    from vision.common.errors import UserError
    from vision.sam import SamSegmenter, build_tiny_sam

    bad = tmp_path / "sam_vit_b.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError):  # SHA-256 / format check of vision.sam: one-line error, no traceback
        build_segmenter(SegmentConfig(), bad)
    assert type(build_segmenter(SegmentConfig())).__name__ == "ClassicalSegmenter"
    frame = render_scene(make_catalog(4, 0), np.random.default_rng(0), SceneConfig())
    published = []
    node = GraspNode(SamSegmenter(build_tiny_sam(), "cpu"), identifier,
                     publish=lambda topic, msg, stamp: published.append(topic))
    out = node.callback(frame)
    assert out.proposals == len(out.objects) + sum(out.skipped.values())
    assert published == list(node.output_topics)


def test_saved_gallery_input(tmp_path, scene_bag, armbench_root, embedder_ckpt, capsys) -> None:
    import torch

    from demos.grasp.run import build_identifier
    from identification.gallery import Gallery
    from identification.model import build_embedder, save_embedder

    ident, info = build_identifier(embedder_ckpt, references=armbench_root)
    assert info["products"] == len(ident.gallery.product_ids) and info["unreadable_images"] == 0
    ident.gallery.save(tmp_path / "gallery")
    base = ["demo", "grasp", "--bag", str(scene_bag), "--gallery", str(tmp_path / "gallery")]
    assert main([*base, "--checkpoint", str(embedder_ckpt), "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["inputs"]["products"] == info["products"]

    torch.manual_seed(1)
    other = save_embedder(build_embedder("test_resnet", embed_dim=16, img_size=64), tmp_path / "other.pt")
    assert main([*base, "--checkpoint", str(other), "--out", str(tmp_path / "o2")]) == 2
    assert "gallery embeddings have 32 dimensions but the embedder" in capsys.readouterr().err
    Gallery(dim=32).save(tmp_path / "empty")
    assert main(["demo", "grasp", "--bag", str(scene_bag), "--gallery", str(tmp_path / "empty"),
                 "--checkpoint", str(embedder_ckpt), "--out", str(tmp_path / "o3")]) == 2
    assert "gallery has no products" in capsys.readouterr().err


def test_no_verify_reaches_the_sam_loader(tmp_path, scene_bag, armbench_root, embedder_ckpt, monkeypatch, capsys) -> None:
    """The SHA-256 error tells users to pass --no-verify: `demo grasp` must accept it and pass it on."""
    import vision.common.errors as errors
    import vision.sam

    seen = []

    def fake_build_sam(name, checkpoint=None, verify=True, **kwargs):
        seen.append(verify)
        raise errors.UserError("stop here", checkpoint)

    monkeypatch.setattr(vision.sam, "build_sam", fake_build_sam)
    ckpt = tmp_path / "finetuned.pth"
    ckpt.write_bytes(b"x")
    base = ["demo", "grasp", "--bag", str(scene_bag), "--references", str(armbench_root), "--checkpoint",
            str(embedder_ckpt), "--sam-checkpoint", str(ckpt), "--out", str(tmp_path / "o")]
    assert main([*base, "--no-verify"]) == 2 and main(base) == 2
    assert seen == [False, True] and "stop here" in capsys.readouterr().err

