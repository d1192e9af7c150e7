"""SAM wrapper with tiny randomly initialised models; checkpoint verification and download errors."""

import hashlib

import numpy as np
import pytest
import torch

from vision.common.errors import UserError
from vision.proposals import Proposal, Segmenter
from vision.sam import (
    AMG_PRESETS,
    SAM_CHECKPOINTS,
    AmgPreset,
    SamCheckpoint,
    SamSegmenter,
    build_sam,
    build_tiny_sam,
    download_sam,
    get_preset,
    resolve_name,
)

LOOSE = AmgPreset(points_per_side=6, points_per_batch=8, pred_iou_thresh=0.0, stability_score_thresh=0.0,
                  box_nms_thresh=0.95, min_mask_region_area=0)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_registry_has_the_three_official_checkpoints():
    assert set(SAM_CHECKPOINTS) == {"vit_h", "vit_l", "vit_b"}
    assert SAM_CHECKPOINTS["vit_b"].filename == "sam_vit_b_01ec64.pth"
    for ck in SAM_CHECKPOINTS.values():
        assert len(ck.sha256) == 64 and int(ck.sha256, 16) >= 0
        assert ck.url.endswith(ck.filename)
    assert resolve_name("sam_vit_l_0b3195.pth") == "vit_l"
    with pytest.raises(UserError, match="unknown SAM model"):
        resolve_name("vit_x")


def test_presets():
    p = AMG_PRESETS["paper"]
    assert (p.model, p.points_per_side, p.points_per_batch, p.pred_iou_thresh, p.stability_score_thresh,
            p.box_nms_thresh, p.min_mask_region_area) == ("vit_b", 70, 64, 0.88, 0.85, 0.7, 500)
    assert get_preset("cpu").points_per_side < 70
    with pytest.raises(UserError):
        get_preset("fast-ish")


def test_tiny_sam_automatic_masks_and_point_prompts():
    torch.set_num_threads(1)
    seg = SamSegmenter(build_tiny_sam(), LOOSE)
    assert isinstance(seg, Segmenter)
    rgb = (np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)
    props = seg.segment(rgb)
    assert props and all(isinstance(p, Proposal) and p.mask.shape == (40, 60) and p.mask.dtype == bool for p in props)
    assert set(seg.last_timings_ms) == {"sam_encoder", "mask_generation"}
    assert seg.last_timings_ms["sam_encoder"] > 0
    pts = np.array([[5, 5], [30, 20], [55, 35], [10, 30], [20, 10]], float)
    one_batch = seg.segment_points(rgb, pts, batch_size=8)
    batched = seg.segment_points(rgb, pts, batch_size=2)
    assert len(one_batch) == len(batched) == 5
    for a, b in zip(one_batch, batched, strict=True):  # batching does not change the answer
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.score == pytest.approx(b.score, abs=1e-5)


def test_checkpoint_verification(tmp_path):
    tiny = build_tiny_sam(seed=1)
    ck = tmp_path / "tiny.pth"
    torch.save(tiny.state_dict(), ck)
    digest = _sha(ck)
    # a registry where the tiny checkpoint is the "official" vit_l: loading it as vit_b names the mix-up
    reg = {"vit_b": SamCheckpoint("b.pth", "vit_b", "file:///nonexistent/b.pth", "0" * 64),
           "vit_l": SamCheckpoint("l.pth", "vit_l", "file:///nonexistent/l.pth", digest)}
    with pytest.raises(UserError, match="official vit_l checkpoint"):
        build_sam("vit_b", ck, registry=reg)
    # unknown hash
    with pytest.raises(UserError, match="does not match the official"):
        build_sam("vit_b", ck)
    # hash check off: the state dict of a tiny model does not fit vit_b
    with pytest.raises(UserError, match="does not fit a SAM vit_b"):
        build_sam("vit_b", ck, verify=False)
    # a file that is not a checkpoint at all
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        build_sam("vit_b", junk, verify=False)
    with pytest.raises(UserError, match="does not exist"):
        build_sam("vit_b", tmp_path / "missing.pth")


def test_download_refused_and_local_download(tmp_path):
    with pytest.raises(UserError, match="cannot download"):
        download_sam("vit_b", tmp_path / "d", timeout=5, url="http://127.0.0.1:9/sam_vit_b_01ec64.pth")
    assert not (tmp_path / "d" / "sam_vit_b_01ec64.pth").exists()
    src = tmp_path / "src.pth"
    src.write_bytes(b"pretend weights")
    reg = {"vit_b": SamCheckpoint("sam_vit_b_test.pth", "vit_b", src.as_uri(), _sha(src))}
    out = download_sam("vit_b", tmp_path / "d", registry=reg)
    assert out.read_bytes() == b"pretend weights"
    with pytest.raises(UserError, match="already exists"):
        download_sam("vit_b", tmp_path / "d", registry=reg)
    bad = {"vit_b": SamCheckpoint("other.pth", "vit_b", src.as_uri(), "1" * 64)}
    with pytest.raises(UserError, match="does not match"):
        download_sam("vit_b", tmp_path / "d", registry=bad)
    assert not (tmp_path / "d" / "other.pth").exists()


def test_download_that_breaks_off_is_one_line(tmp_path, monkeypatch):
    import http.client
    import io

    class Broken(io.BytesIO):
        headers = {"Content-Length": "100"}

        def read(self, n=-1):
            raise http.client.IncompleteRead(b"partial", 90)

    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: Broken())
    with pytest.raises(UserError, match="broke off"):
        download_sam("vit_b", tmp_path / "d")
    assert not list((tmp_path / "d").glob("*"))  # nothing left behind, not even the temporary file
