"""Detector pipeline with the real Gallery/Identifier and a deterministic colour embedder (test double)."""

import numpy as np
import pytest

from identification.gallery import Gallery
from identification.identifier import Identifier
from vision.annotate import draw_detections
from vision.crops import crop_object
from vision.detect import STAGES, Detector
from vision.masks import MaskFilter
from vision.proposals import Proposal, proposal_from_mask

COLORS = {"red": (230, 20, 20), "green": (20, 200, 30), "blue": (20, 40, 230)}


class ColourEmbedder:
    """Embeds a crop as its mean colour of non-white pixels, centred and L2-normalised (D = 3)."""

    embed_dim = 3

    def embed(self, images):
        out = []
        for im in images:
            px = im.reshape(-1, 3).astype(np.float32)
            px = px[(px < 250).any(axis=1)]
            v = px.mean(axis=0) - 128.0
            out.append(v / np.linalg.norm(v))
        return np.array(out, np.float32).reshape(-1, 3)


class FixedSegmenter:
    def __init__(self, proposals):
        self.proposals = proposals
        self.last_timings_ms = {"sam_encoder": 1.5}

    def segment(self, rgb, depth=None):
        return list(self.proposals)


def _scene():
    rgb = np.full((120, 200, 3), 128, np.uint8)
    masks = {}
    for i, (name, col) in enumerate(COLORS.items()):
        m = np.zeros((120, 200), bool)
        m[20:80, 10 + 65 * i : 60 + 65 * i] = True
        rgb[m] = col
        masks[name] = m
    return rgb, masks


def _identifier():
    emb = ColourEmbedder()
    ident = Identifier(emb, Gallery(), mode="centroid")
    for name, col in COLORS.items():
        ref = np.full((32, 32, 3), col, np.uint8)
        ident.add_product(name, [ref, (ref * 0.9).astype(np.uint8)])
    return ident


def test_detector_identifies_filters_and_times():
    rgb, masks = _scene()
    dup = masks["red"].copy()
    dup[80, 10:60] = True  # near-duplicate of red (IoU ~0.98): per-object NMS keeps one
    tiny = np.zeros_like(dup)
    tiny[100:105, 100:105] = True
    props = [proposal_from_mask(masks["red"], 0.9), proposal_from_mask(dup, 0.8), proposal_from_mask(masks["green"]),
             proposal_from_mask(masks["blue"]), proposal_from_mask(tiny)]
    det = Detector(FixedSegmenter(props), _identifier(), mask_filter=MaskFilter(min_area=100, nms_iou=None),
                   score_threshold=0.9)
    res = det.detect(rgb)
    assert res.proposals == 5 and res.kept_proposals == 4 and res.dropped["small"] == 1
    assert sorted(d.obj_id for d in res.detections) == ["blue", "green", "red"]
    for d in res.detections:
        assert d.score > 0.99 and d.mask.shape == (120, 200)
        expected = [masks["red"], dup] if d.obj_id == "red" else [masks[d.obj_id]]
        assert any(np.array_equal(d.mask, e) for e in expected)
    assert set(STAGES) <= set(res.timings_ms) and res.timings_ms["sam_encoder"] == 1.5
    assert res.timings_ms["total"] >= res.timings_ms["segmentation"]
    js = res.detections[0].to_json()
    assert set(js) == {"obj_id", "score", "bbox", "segmentation"}
    ann = draw_detections(rgb, res.detections)
    assert ann.shape == rgb.shape and ann.dtype == np.uint8 and (ann != rgb).any()


def test_targets_threshold_caps_and_zero_proposals():
    rgb, masks = _scene()
    props = [proposal_from_mask(m) for m in masks.values()]
    ident = _identifier()
    det = Detector(FixedSegmenter(props), ident, mask_filter=MaskFilter(min_area=100), score_threshold=0.5)
    # only look for green: the red and blue segments match green poorly and fall below the threshold
    res = det.detect(rgb, targets=["green"])
    assert [d.obj_id for d in res.detections] == ["green"]
    # no threshold, one target: every segment becomes "green"; the cap keeps the best 2
    det0 = Detector(FixedSegmenter(props), ident, mask_filter=MaskFilter(min_area=100), score_threshold=-1.0)
    res = det0.detect(rgb, targets=["green"], max_instances={"green": 2})
    assert [d.obj_id for d in res.detections] == ["green", "green"]
    assert res.detections[0].score >= res.detections[1].score
    np.testing.assert_array_equal(res.detections[0].mask, masks["green"])
    empty = Detector(FixedSegmenter([]), ident).detect(rgb)
    assert empty.detections == [] and empty.proposals == 0


def test_crop_object_padding_fill_and_resize():
    rgb = np.zeros((50, 80, 3), np.uint8)
    rgb[..., 0] = 200
    m = np.zeros((50, 80), bool)
    m[10:30, 20:60] = True  # 40 x 20 box
    c = crop_object(rgb, m, pad=0.1, fill=255)
    assert c.shape == (48, 48, 3)  # square side 40 + 2 * 4 margin
    assert (c[0, 0] == 255).all()  # outside the mask: white
    assert (c[24, 24] == (200, 0, 0)).all()
    edge = np.zeros((50, 80), bool)
    edge[0:10, 0:10] = True  # the window leaves the image: filled white, no error
    c2 = crop_object(rgb, edge, pad=0.5, size=32)
    assert c2.shape == (32, 32, 3) and (c2[0, 0] == 255).all()
    with pytest.raises(ValueError):
        crop_object(rgb, np.zeros((50, 80), bool))


def test_classical_segmenter_on_fixture(bop_root):
    from vision.bop.reader import BopDataset
    from vision.classical import ClassicalSegmenter
    from vision.masks import mask_iou_matrix

    ds = BopDataset(bop_root)
    seg = ClassicalSegmenter()
    found = total = 0
    for scene_id, im_id in ds.target_images("test"):
        props = seg.segment(ds.read_rgb("test", scene_id, im_id), ds.read_depth("test", scene_id, im_id))
        assert all(isinstance(p, Proposal) for p in props)
        gts = [ds.visib_mask("test", scene_id, im_id, i) for i in range(len(ds.scene("test", scene_id).gt[im_id]))]
        gts = [g for g in gts if g.sum() > 200]
        iou = mask_iou_matrix(np.stack(gts), np.stack([p.mask for p in props]))
        found += int((iou.max(axis=1) > 0.5).sum())
        total += len(gts)
    assert found >= 0.8 * total  # depth makes the fixture easy for the classical segmenter
    rgb_only = seg.segment(ds.read_rgb("test", 1, 0))
    assert all(p.mask.shape == (240, 320) for p in rgb_only)


def test_fallback_warning_names_the_segmenter(caplog):
    from vision.classical import ClassicalSegmenter
    from vision.pipeline import build_segmenter

    with caplog.at_level("WARNING"):
        seg = build_segmenter("auto", None)
    assert isinstance(seg, ClassicalSegmenter)
    assert "ClassicalSegmenter" in caplog.text and "no SAM checkpoint" in caplog.text


def test_top_k_labels_per_segment():
    rgb, masks = _scene()
    props = [proposal_from_mask(masks["red"])]
    det = Detector(FixedSegmenter(props), _identifier(), mask_filter=MaskFilter(min_area=100), score_threshold=-1.0, top_k=2)
    res = det.detect(rgb)
    assert [d.obj_id for d in res.detections][0] == "red" and len(res.detections) == 2
    assert res.detections[0].score > res.detections[1].score
