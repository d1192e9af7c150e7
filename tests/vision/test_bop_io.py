"""BOP reader, fixture layout, results writer round trip, evaluation end to end and bad inputs."""

import json
from pathlib import Path

import numpy as np
import pytest

from vision.bop.evaluate import evaluate_bop
from vision.bop.reader import BopDataset, read_mask
from vision.bop.results import (
    load_results,
    make_result,
    parse_results_filename,
    results_filename,
    write_results,
)
from vision.common.errors import UserError
from vision.masks import rle_decode


def _gt_results(ds, split="test", drop=()):
    """Perfect results from the GT visible masks (minus (scene, im, gt_idx) in ``drop``)."""
    out = []
    for scene_id, im_id in ds.target_images(split):
        sc = ds.scene(split, scene_id)
        for gt_idx, (g, info) in enumerate(zip(sc.gt[im_id], sc.gt_info[im_id], strict=True)):
            if (scene_id, im_id, gt_idx) in drop or info["px_count_visib"] == 0:
                continue
            m = ds.visib_mask(split, scene_id, im_id, gt_idx)
            out.append(make_result(scene_id, im_id, g["obj_id"], 0.9, m, info["bbox_obj"], 0.25))
    return out


def test_fixture_layout_and_reader(bop_root):
    ds = BopDataset(bop_root)
    for rel in ["camera.json", "models/models_info.json", "test_targets_bop19.json", "test_targets_bop24.json",
                "test/000001/scene_gt.json", "test/000001/scene_gt_info.json", "test/000001/scene_camera.json",
                "test/000001/rgb/000000.png", "test/000001/depth/000000.png", "test/000001/mask/000000_000000.png",
                "test/000001/mask_visib/000000_000000.png", "onboarding_static/obj_000001_up/rgb/000000.png",
                "onboarding_static/obj_000001_down/mask_visib/000000_000000.png", "onboarding_dynamic/obj_000004/rgb/000001.png"]:
        assert (bop_root / rel).is_file(), rel
    assert ds.object_ids() == [1, 2, 3, 4]
    assert ds.scene_ids("test") == [1]
    assert ds.target_images("test") == [(1, 0), (1, 1), (1, 2)]
    assert ds.target_images("test", Path("test_targets_bop24.json")) == [(1, 0), (1, 1), (1, 2)]
    rgb, depth = ds.read_rgb("test", 1, 0), ds.read_depth("test", 1, 0)
    assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
    assert depth.shape == (240, 320) and depth.dtype == np.float32 and 500 < np.median(depth) < 900  # mm
    sc = ds.scene("test", 1)
    for im_id in sc.image_ids():
        for gt_idx, info in enumerate(sc.gt_info[im_id]):
            vis = ds.visib_mask("test", 1, im_id, gt_idx)
            assert int(vis.sum()) == info["px_count_visib"]
            assert info["visib_fract"] == pytest.approx(info["px_count_visib"] / info["px_count_all"])
            amodal = read_mask(bop_root / "test" / "000001" / "mask" / f"{im_id:06d}_{gt_idx:06d}.png")
            assert int(amodal.sum()) == info["px_count_valid"]  # amodal pixels inside the image
            assert not (vis & ~amodal).any()
    static = ds.onboarding_views("static", 2)
    assert len(static) == 4 and all(m is not None for _, m in static)
    dynamic = ds.onboarding_views("dynamic", 2)
    assert len(dynamic) == 2 and dynamic[0][1] is not None and dynamic[1][1] is None


def test_results_round_trip_and_perfect_score(bop_root, tmp_path):
    ds = BopDataset(bop_root)
    results = _gt_results(ds)
    name = results_filename("edgevision", "fx", "test")
    assert name == "edgevision_fx-test.json" and parse_results_filename(tmp_path / name) == ("edgevision", "fx", "test")
    with pytest.raises(UserError):
        results_filename("my_method", "fx", "test")
    path = write_results(tmp_path / name, results)
    loaded = load_results(path, categories=ds.object_ids())
    assert loaded == json.loads(json.dumps(results))
    m = ds.visib_mask("test", 1, 0, 0)
    np.testing.assert_array_equal(rle_decode(loaded[0]["segmentation"]), m)
    for ann in ("segm", "bbox"):
        s = evaluate_bop(ds, "test", loaded, ann_type=ann)
        assert s["AP"] == pytest.approx(1.0) and s["AR100"] == pytest.approx(1.0), ann
        assert s["images"] == 3 and s["mean_time_per_image_s"] == pytest.approx(0.25)
    with pytest.raises(UserError, match="already exists"):
        write_results(path, results)


def test_visib_fract_rule_end_to_end(bop_copy):
    ds = BopDataset(bop_copy)
    # Drop the detection of one GT: AP falls below 1 ...
    drop = {(1, 0, 0)}
    ap_missing = evaluate_bop(ds, "test", _gt_results(ds, drop=drop))["AP"]
    assert ap_missing < 0.99
    # ... unless that GT is barely visible (visib_fract < 0.1): then it is ignored and AP is 1 again.
    info_path = bop_copy / "test" / "000001" / "scene_gt_info.json"
    info = json.loads(info_path.read_text())
    info["0"][0]["visib_fract"] = 0.05
    info_path.write_text(json.dumps(info))
    s = evaluate_bop(BopDataset(bop_copy), "test", _gt_results(ds, drop=drop))
    assert s["AP"] == pytest.approx(1.0) and s["gt_ignored"] == 1
    # a detection matched to the ignored GT changes nothing either
    s2 = evaluate_bop(BopDataset(bop_copy), "test", _gt_results(ds))
    assert s2["AP"] == pytest.approx(1.0)


def test_detections_outside_targets_are_counted_not_scored(bop_copy):
    ds = BopDataset(bop_copy)
    results = _gt_results(ds)
    targets = [t for t in json.loads((bop_copy / "test_targets_bop19.json").read_text()) if t["im_id"] != 2]
    (bop_copy / "t.json").write_text(json.dumps(targets))
    s = evaluate_bop(ds, "test", results, targets_path=bop_copy / "t.json")
    assert s["images"] == 2 and s["AP"] == pytest.approx(1.0)
    assert s["detections_outside_targets"] == sum(1 for r in results if r["image_id"] == 2)


def test_bad_inputs(bop_copy, tmp_path):
    ds = BopDataset(bop_copy)
    good = _gt_results(ds)
    # unknown category
    bad = [dict(good[0], category_id=99)]
    (tmp_path / "a.json").write_text(json.dumps(bad))
    with pytest.raises(UserError, match="unknown category_id 99"):
        load_results(tmp_path / "a.json", categories=ds.object_ids())
    # bad RLE
    bad = [dict(good[0], segmentation={"counts": "zz!", "size": [240, 320]})]
    (tmp_path / "b.json").write_text(json.dumps(bad))
    with pytest.raises(UserError, match="entry 0: bad RLE"):
        load_results(tmp_path / "b.json")
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_results(tmp_path / "c.json")
    # undecodable image
    (bop_copy / "test" / "000001" / "rgb" / "000001.png").write_bytes(b"garbage")
    with pytest.raises(UserError, match="cannot be decoded"):
        ds.read_rgb("test", 1, 1)
    # missing required JSON
    (bop_copy / "test" / "000001" / "scene_gt_info.json").unlink()
    with pytest.raises(UserError, match="scene_gt_info.json is missing"):
        evaluate_bop(BopDataset(bop_copy), "test", good)
    (bop_copy / "camera.json").unlink()
    with pytest.raises(UserError, match="camera.json is missing"):
        BopDataset(bop_copy)


class _NoProposals:
    """Detector stand-in whose segmenter finds nothing."""

    def detect(self, rgb, depth=None, targets=None, max_instances=None):
        from vision.detect import DetectionResult

        assert rgb.ndim == 3 and depth is not None
        return DetectionResult(detections=[], timings_ms={"total": 1.0}, proposals=0)


def test_inference_counts_zero_proposals_and_undecodable_images(bop_copy):
    from vision.bop.infer import run_inference

    (bop_copy / "test" / "000001" / "rgb" / "000002.png").write_bytes(b"broken")
    results, report = run_inference(BopDataset(bop_copy), "test", _NoProposals())
    assert results == []
    assert report["images"] == 2 and report["skipped_images"] == 1 and report["zero_proposal_images"] == 2


def test_uncompressed_rle_results_evaluate_like_compressed(bop_root, tmp_path):
    # COCO allows "counts" as a list of run lengths; it passed validation but crashed the evaluator.
    from vision.masks import rle_counts

    ds = BopDataset(bop_root)
    good = _gt_results(ds)
    plain = [dict(r, segmentation={"counts": rle_counts(rle_decode(r["segmentation"])),
                                   "size": r["segmentation"]["size"]}) for r in good]
    (tmp_path / "u.json").write_text(json.dumps(plain))
    loaded = load_results(tmp_path / "u.json", categories=ds.object_ids())
    assert [r["segmentation"] for r in loaded] == [r["segmentation"] for r in good]
    assert evaluate_bop(ds, "test", loaded)["AP"] == pytest.approx(1.0)


def test_targets_with_non_integer_ids_are_one_line_errors(bop_copy):
    (bop_copy / "t.json").write_text(json.dumps([{"scene_id": "a", "im_id": 0}]))
    with pytest.raises(UserError, match="integer ids"):
        BopDataset(bop_copy).target_images("test", bop_copy / "t.json")


def _toolkit_scores(ds, results, ann_type):
    """What the BOP toolkit computes: COCO GT as its calc_gt_coco writes it (visible RLE, area = visible
    pixels, amodal bbox_obj, ignore = visib_fract < 0.1, invisible instances left out), results through
    pycocotools' loadRes, and the patched cocoapi that honours 'ignore' (emulated on stock pycocotools)."""
    import contextlib
    import copy
    import io

    import pycocotools.mask as cocomask
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    class PatchedCOCOeval(COCOeval):
        def _prepare(self):
            super()._prepare()  # stock: ignore := iscrowd
            for gts in self._gts.values():
                for g in gts:
                    g["ignore"] = g["bop_ignore"]

    images, anns, image_ids = [], [], {}
    for scene_id, im_id in ds.target_images("test"):
        image_ids[(scene_id, im_id)] = len(image_ids) + 1
        images.append({"id": image_ids[(scene_id, im_id)], "height": 240, "width": 320})
        sc = ds.scene("test", scene_id)
        for k, (g, info) in enumerate(zip(sc.gt[im_id], sc.gt_info[im_id], strict=True)):
            m = ds.visib_mask("test", scene_id, im_id, k)
            if m.sum() < 1:
                continue
            rle = cocomask.encode(np.asfortranarray(m.astype(np.uint8)))
            anns.append({"id": len(anns) + 1, "image_id": image_ids[(scene_id, im_id)], "category_id": g["obj_id"],
                         "iscrowd": 0, "area": int(m.sum()), "bbox": info["bbox_obj"], "segmentation": rle,
                         "bop_ignore": int(info["visib_fract"] < 0.1)})
    dts = copy.deepcopy(results)
    for d in dts:
        d["image_id"] = image_ids[(d.pop("scene_id"), d["image_id"])]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in ds.object_ids()]}
        coco.createIndex()
        ev = PatchedCOCOeval(coco, coco.loadRes(dts), ann_type)
        ev.params.imgIds = sorted(coco.getImgIds())
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small",
             "AR_medium", "AR_large"]
    return dict(zip(names, ev.stats.tolist(), strict=True))


def test_scores_equal_the_bop_toolkit_path(bop_copy):
    import cv2

    # Noisy detections on the fixture: shifted masks, one barely visible GT (ignored) and one invisible GT,
    # small-mask false positives with large boxes (the toolkit's detection area is the box area, also for segm).
    from vision.masks import rle_encode

    info_path = bop_copy / "test" / "000001" / "scene_gt_info.json"
    info = json.loads(info_path.read_text())
    info["0"][1]["visib_fract"] = 0.05
    info["1"][0].update(visib_fract=0.0, px_count_visib=0)
    info_path.write_text(json.dumps(info))
    p = bop_copy / "test" / "000001" / "mask_visib" / "000001_000000.png"
    cv2.imwrite(str(p), np.zeros_like(read_mask(p), dtype=np.uint8))
    ds = BopDataset(bop_copy)
    rng = np.random.default_rng(0)
    results = []
    for r in _gt_results(ds):
        m = np.roll(rle_decode(r["segmentation"]), tuple(rng.integers(-6, 7, size=2)), axis=(0, 1))
        results.append(dict(r, score=float(rng.choice([0.3, 0.5, 0.9])), segmentation=rle_encode(m),
                            bbox=[int(v) + int(rng.integers(-5, 6)) for v in r["bbox"]]))
    sc = ds.scene("test", 1)
    results.append(make_result(1, 1, sc.gt[1][0]["obj_id"], 0.95, np.zeros((240, 320), bool), sc.gt_info[1][0]["bbox_obj"]))
    for k in range(4):
        m = np.zeros((240, 320), bool)
        m[10 + 20 * k:20 + 20 * k, 10:20] = True
        results.append(make_result(1, k % 3, 1 + k, float(rng.choice([0.3, 0.5, 0.9])), m, [0, 0, 150, 150]))
    for ann_type in ("segm", "bbox"):
        ours = evaluate_bop(ds, "test", results, ann_type=ann_type)
        assert ours["gt_ignored"] >= 1 and ours["gt_not_visible"] == 1
        toolkit = _toolkit_scores(ds, results, ann_type)
        for key, value in toolkit.items():
            assert ours[key] == pytest.approx(value, abs=1e-9), (ann_type, key)


def test_inference_skips_and_counts_a_depth_image_of_another_size(bop_copy):
    # a depth PNG whose size differs from its rgb image ended in a ValueError traceback from the segmenter
    import cv2

    from vision.bop.infer import run_inference

    cv2.imwrite(str(bop_copy / "test" / "000001" / "depth" / "000001.png"), np.zeros((10, 12), np.uint16))
    results, report = run_inference(BopDataset(bop_copy), "test", _NoProposals())
    assert report["images"] == 2 and report["skipped_images"] == 1
