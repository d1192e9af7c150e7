import numpy as np
import pycocotools.mask as cocomask
import pytest

from vision.masks import (
    MaskFilter,
    RLEError,
    box_iou_matrix,
    mask_iou_matrix,
    mask_nms,
    rle_area,
    rle_decode,
    rle_encode,
)
from vision.proposals import proposal_from_mask


def _random_masks(rng, n, h, w):
    out = []
    for _ in range(n):
        m = np.zeros((h, w), bool)
        for _ in range(rng.integers(0, 4)):
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            m[y0 : y0 + rng.integers(1, h + 1), x0 : x0 + rng.integers(1, w + 1)] = True
        m ^= rng.random((h, w)) < 0.05
        out.append(m)
    out += [np.zeros((h, w), bool), np.ones((h, w), bool)]
    return out


def test_rle_matches_pycocotools_and_round_trips():
    rng = np.random.default_rng(0)
    for h, w in [(1, 1), (7, 5), (40, 33), (120, 90)]:
        for m in _random_masks(rng, 6, h, w):
            ours = rle_encode(m)
            ref = cocomask.encode(np.asfortranarray(m.astype(np.uint8)))
            assert ours["counts"] == ref["counts"].decode("ascii")
            assert ours["size"] == [h, w]
            np.testing.assert_array_equal(rle_decode(ours), m)
            # and we decode what pycocotools writes
            np.testing.assert_array_equal(rle_decode({"counts": ref["counts"], "size": list(ref["size"])}), m)
            assert rle_area(ours) == int(m.sum()) == int(cocomask.area(ref))


def test_large_counts_round_trip():
    m = np.zeros((1000, 1000), bool)
    m[500:, 700:] = True
    ours = rle_encode(m)
    assert ours["counts"] == cocomask.encode(np.asfortranarray(m.astype(np.uint8)))["counts"].decode()
    np.testing.assert_array_equal(rle_decode(ours), m)


def test_uncompressed_rle_and_bad_rle():
    np.testing.assert_array_equal(rle_decode({"counts": [1, 2, 1], "size": [2, 2]}), np.array([[0, 1], [1, 0]], bool))
    with pytest.raises(RLEError):
        rle_decode({"counts": [1, 2], "size": [2, 2]})  # sums to 3, not 4
    with pytest.raises(RLEError):
        rle_decode({"counts": "\x7f\x7f", "size": [2, 2]})
    with pytest.raises(RLEError):
        rle_decode({"counts": "00", "size": [2]})
    with pytest.raises(RLEError, match="invalid character"):  # non-ASCII was read as '?' (a valid digit)
        rle_decode({"counts": "0\u00e9", "size": [1, 1]})
    with pytest.raises(RLEError):
        rle_decode({"size": [2, 2]})


def test_iou_against_pycocotools():
    rng = np.random.default_rng(1)
    a = np.stack(_random_masks(rng, 4, 30, 20))
    b = np.stack(_random_masks(rng, 3, 30, 20))
    ours = mask_iou_matrix(a, b)
    ra = [cocomask.encode(np.asfortranarray(m.astype(np.uint8))) for m in a]
    rb = [cocomask.encode(np.asfortranarray(m.astype(np.uint8))) for m in b]
    ref = cocomask.iou(ra, rb, [0] * len(rb))
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    boxes_a = rng.integers(0, 30, size=(5, 4)).astype(float)
    boxes_b = rng.integers(0, 30, size=(4, 4)).astype(float)
    np.testing.assert_allclose(box_iou_matrix(boxes_a, boxes_b), cocomask.iou(boxes_a, boxes_b, [0] * 4), atol=1e-9)


def test_mask_nms_hand_case():
    m = np.zeros((4, 10, 10), bool)
    m[0, :5, :5] = True  # A
    m[1, :5, :4] = True  # 80 % of A: IoU 0.8
    m[2, 5:, 5:] = True  # disjoint
    m[3, :5, :2] = True  # IoU with A = 0.4
    scores = [0.5, 0.9, 0.7, 0.1]
    assert mask_nms(m, scores, 0.5) == [1, 2, 3]  # 1 suppresses 0 (IoU 0.8); 3 vs 1: 10/20 = 0.5 not > 0.5
    assert mask_nms(m, scores, 0.45) == [1, 2]
    assert mask_nms(m, scores, 0.85) == [1, 2, 0, 3]
    assert mask_nms(m[:0], [], 0.5) == []


def test_mask_filter_area_background_and_nms():
    h, w = 200, 200
    small = np.zeros((h, w), bool)
    small[:49, :49] = True  # 2401 px < 50x50
    ok = np.zeros((h, w), bool)
    ok[100:150, 100:150] = True  # exactly 2500
    dup = ok.copy()
    dup[150, 100:150] = True
    tote = np.zeros((h, w), bool)
    tote[:, :5] = tote[:, -5:] = tote[:5] = tote[-5:] = True  # thin frame: small area, full-image box
    bg = np.ones((h, w), bool)
    bg[100:150, 100:150] = False
    props = [proposal_from_mask(x, s) for x, s in [(small, 1), (ok, 0.9), (dup, 0.8), (tote, 1), (bg, 1)]]
    kept, dropped = MaskFilter()(props)
    assert len(kept) == 1 and kept[0].score == 0.9 and kept[0].bbox == (100, 100, 50, 50)
    assert dropped == {"small": 1, "background": 2, "duplicate": 1}
