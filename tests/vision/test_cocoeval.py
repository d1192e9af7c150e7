"""The COCO/BOP evaluator against hand-computed values and against stock pycocotools."""

import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vision.bop.cocoeval import EvalInstance, ImageEval, evaluate
from vision.masks import box_iou_matrix

# One image = (gts, dets); gt = (cat, [x, y, w, h], ignore), det = (cat, [x, y, w, h], score)


def _ours(images):
    evals = []
    for gts, dets in images:
        g_inst = [EvalInstance(c, b[2] * b[3], ignore=ig) for c, b, ig in gts]
        d_inst = [EvalInstance(c, b[2] * b[3], s) for c, b, s in dets]
        ious = box_iou_matrix(np.array([b for _, b, _ in dets]).reshape(-1, 4), np.array([b for _, b, _ in gts]).reshape(-1, 4))
        evals.append(ImageEval(g_inst, d_inst, ious))
    return evaluate(evals).stats


def _stock(images):
    """Stock pycocotools on the same data (its 'ignore' handling is what we differ from)."""
    gt = {"images": [], "annotations": [], "categories": []}
    dts = []
    cats = set()
    for i, (gts, dets) in enumerate(images):
        gt["images"].append({"id": i, "width": 1000, "height": 1000})
        for c, b, ig in gts:
            gt["annotations"].append(
                {"id": len(gt["annotations"]) + 1, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3],
                 "iscrowd": 0, "ignore": int(ig)}
            )
            cats.add(c)
        for c, b, s in dets:
            dts.append({"image_id": i, "category_id": c, "bbox": b, "score": s})
            cats.add(c)
    gt["categories"] = [{"id": c} for c in sorted(cats)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        res = coco.loadRes(dts) if dts else COCO()
        ev = COCOeval(coco, res, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]
    return dict(zip(names, ev.stats.tolist(), strict=True))


A = [0, 0, 100, 100]
B = [200, 200, 100, 100]
FAR = [500, 500, 100, 100]


def test_perfect_detection_is_one():
    s = _ours([([(1, A, False)], [(1, A, 0.9)])])
    assert s["AP"] == pytest.approx(1.0) and s["AR1"] == pytest.approx(1.0)
    assert s["AP_large"] == pytest.approx(1.0) and s["AP_small"] == -1.0  # no small GT: undefined


def test_hand_computed_precision_recall_curve():
    # TP (0.9), FP (0.8), TP (0.7): interpolated precision 1 up to recall 0.5 (51 of 101 points), then 2/3.
    s = _ours([([(1, A, False), (1, B, False)], [(1, A, 0.9), (1, FAR, 0.8), (1, B, 0.7)])])
    expected = (51 * 1.0 + 50 * (2 / 3)) / 101
    assert s["AP"] == pytest.approx(expected, abs=1e-4)
    assert s["AR1"] == pytest.approx(0.5) and s["AR100"] == pytest.approx(1.0)


def test_iou_thresholds_count():
    # IoU 0.625 box: true positive at thresholds 0.50, 0.55, 0.60 only -> AP = 3/10.
    shifted = [0, 0, 100, 62.5]
    assert box_iou_matrix(np.array([shifted]), np.array([A]))[0, 0] == pytest.approx(0.625)
    s = _ours([([(1, A, False)], [(1, shifted, 0.9)])])
    assert s["AP"] == pytest.approx(0.3) and s["AP50"] == pytest.approx(1.0) and s["AP75"] == pytest.approx(0.0)


def test_categories_are_averaged():
    # category 1 perfect, category 2 missed entirely -> mean AP 0.5
    s = _ours([([(1, A, False), (2, B, False)], [(1, A, 0.9)])])
    assert s["AP"] == pytest.approx(0.5)


def test_matches_stock_pycocotools_without_ignored_gt():
    rng = np.random.default_rng(3)
    images = []
    for _ in range(6):
        gts, dets = [], []
        for _ in range(rng.integers(0, 6)):
            x, y = rng.integers(0, 800, size=2)
            w, h = rng.integers(5, 200, size=2)
            gts.append((int(rng.integers(1, 4)), [int(x), int(y), int(w), int(h)], False))
        for c, b, _ in gts:
            if rng.random() < 0.8:
                jitter = rng.integers(-15, 16, size=4)
                dets.append((c if rng.random() < 0.85 else 3, [int(b[0] + jitter[0]), int(b[1] + jitter[1]),
                             max(1, int(b[2] + jitter[2])), max(1, int(b[3] + jitter[3]))], float(rng.random())))
        for _ in range(rng.integers(0, 4)):
            dets.append((int(rng.integers(1, 4)), [int(v) for v in rng.integers(0, 700, size=2)] + [50, 60], float(rng.random())))
        images.append((gts, dets))
    ours, stock = _ours(images), _stock(images)
    for key, value in stock.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key


def test_visib_ignore_rule_differs_from_stock_pycocotools():
    # A visible GT A, an ignored GT B (visib_fract < 0.1) that nobody detects.
    images = [([(1, A, False), (1, B, True)], [(1, A, 0.9)])]
    assert _ours(images)["AP"] == pytest.approx(1.0)
    assert _stock(images)["AP"] == pytest.approx(51 / 101, abs=1e-4)  # stock counts B as a miss

    # A detection on the ignored GT counts neither way: here it would be stock's top-scoring TP.
    images = [([(1, A, False), (1, B, True)], [(1, B, 0.95), (1, FAR, 0.9), (1, A, 0.8)])]
    assert _ours(images)["AP"] == pytest.approx(0.5, abs=1e-9)  # FP then TP: precision 1/2 at recall 1
    assert _stock(images)["AP"] == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-4)
    # ... and it is not a false positive either: without it, our AP is unchanged.
    assert _ours([([(1, A, False), (1, B, True)], [(1, FAR, 0.9), (1, A, 0.8)])])["AP"] == pytest.approx(0.5)


def test_category_with_only_ignored_gt_is_not_averaged():
    images = [([(1, A, False), (2, B, True)], [(1, A, 0.9), (2, B, 0.9)])]
    s = _ours(images)
    assert s["AP"] == pytest.approx(1.0)  # category 2 has no regular GT: undefined, left out


def test_max_detections_per_image():
    # 101 detections, the only TP has the lowest score: beyond maxDets=100 it is dropped.
    dets = [(1, FAR, 0.9)] * 100 + [(1, A, 0.1)]
    s = _ours([([(1, A, False)], dets)])
    assert s["AR100"] == pytest.approx(0.0)


def _patched(images):
    """pycocotools with the BOP toolkit's patch: GT 'ignore' is honoured instead of replaced by iscrowd."""

    class Patched(COCOeval):
        def _prepare(self):
            super()._prepare()
            for gts in self._gts.values():
                for g in gts:
                    g["ignore"] = g["bop_ignore"]

    gt = {"images": [{"id": i + 1} for i in range(len(images))], "annotations": [], "categories": [{"id": 1}, {"id": 2}]}
    dts = []
    for i, (gts, dets) in enumerate(images):
        for c, b, ig in gts:
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i + 1, "category_id": c, "bbox": b,
                                      "area": b[2] * b[3], "iscrowd": 0, "bop_ignore": int(ig)})
        dts += [{"image_id": i + 1, "category_id": c, "bbox": b, "score": s} for c, b, s in dets]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = Patched(coco, coco.loadRes(dts), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_matches_patched_pycocotools_with_ignored_gt_and_tied_scores():
    names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small",
             "AR_medium", "AR_large"]
    for seed in range(25):
        rng = np.random.default_rng(seed)
        images = []
        for _ in range(3):
            gts = [(int(rng.integers(1, 3)), [int(v) for v in rng.integers(0, 300, 2)] + [int(v) for v in rng.integers(5, 150, 2)],
                    bool(rng.random() < 0.3)) for _ in range(rng.integers(0, 7))]
            dets = []
            for c, b, _ in gts:
                for _ in range(rng.integers(0, 3)):  # duplicates too
                    j = rng.integers(-15, 16, size=4)
                    dets.append((c, [b[0] + int(j[0]), b[1] + int(j[1]), max(1, b[2] + int(j[2])), max(1, b[3] + int(j[3]))],
                                 float(rng.choice([0.2, 0.5, 0.8]))))
            dets += [(int(rng.integers(1, 3)), [int(v) for v in rng.integers(0, 300, 2)] + [int(v) for v in rng.integers(5, 150, 2)],
                      float(rng.choice([0.2, 0.5, 0.8]))) for _ in range(rng.integers(1, 4))]
            images.append((gts, dets))
        ours, patched = _ours(images), _patched(images)
        for key, value in zip(names, patched.tolist(), strict=True):
            assert ours[key] == pytest.approx(value, abs=1e-9), (seed, key)
