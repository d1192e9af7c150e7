"""The vision CLI end to end: bop fixture/infer/eval, detect, download-sam; bad input -> exit 2, one line."""

import json

import pytest
import torch

from demos.cli import main


@pytest.fixture(scope="module")
def embedder_ckpt(tmp_path_factory):
    from identification.model import build_embedder, save_embedder

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("emb") / "embedder.pt"
    save_embedder(build_embedder("test_resnet", img_size=64).eval(), path)
    return path


def test_bop_infer_then_eval(bop_root, embedder_ckpt, tmp_path, capsys):
    out = tmp_path / "edgevision_fx-test.json"
    rc = main(["bop", "infer", "--dataset", str(bop_root), "--split", "test", "--onboarding", "static",
               "--checkpoint", str(embedder_ckpt), "--out", str(out), "--min-area", "300"])
    assert rc == 0
    results = json.loads(out.read_text())
    assert results and {"scene_id", "image_id", "category_id", "score", "bbox", "segmentation", "time"} <= set(results[0])
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["images"] == 3 and report["gallery"]["objects"] == 4 and "ClassicalSegmenter" == report["segmenter"]
    assert report["config"]["score_threshold"] == 0.2 and out.with_suffix(".config.yaml").is_file()
    scores = tmp_path / "scores.json"
    for ann in ("segm", "bbox"):
        rc = main(["bop", "eval", "--dataset", str(bop_root), "--split", "test", "--results", str(out),
                   "--ann-type", ann, "--out", str(scores), "--overwrite"])
        assert rc == 0
        s = json.loads(scores.read_text())
        assert {"AP", "AP50", "AP75", "AR100", "images"} <= set(s) and s["images"] == 3
        assert 0.0 <= s["AP"] <= 1.0
    # dynamic onboarding: views without masks are segmented and counted
    dyn = tmp_path / "dyn"
    dyn.mkdir()
    rc = main(["bop", "infer", "--dataset", str(bop_root), "--onboarding", "dynamic", "--checkpoint", str(embedder_ckpt),
               "--out", str(dyn), "--min-area", "300", "--segmenter", "classical"])
    assert rc == 0
    rep = json.loads((dyn / "edgevision_fx-test.report.json").read_text())
    assert rep["gallery"]["unmasked"] == 4  # one unmasked view per object
    # refuses to overwrite; bad file name; bad checkpoint
    assert main(["bop", "infer", "--dataset", str(bop_root), "--checkpoint", str(embedder_ckpt), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["bop", "infer", "--dataset", str(bop_root), "--checkpoint", str(embedder_ckpt),
                 "--out", str(tmp_path / "results.json")]) == 2
    assert "METHOD_DATASET-SPLIT" in capsys.readouterr().err
    assert main(["bop", "infer", "--dataset", str(bop_root), "--checkpoint", str(tmp_path / "nope.pt"),
                 "--out", str(tmp_path / "m_fx-test.json"), "--sam-checkpoint", str(tmp_path / "nope.pth")]) == 2


def test_bop_eval_bad_results(bop_root, tmp_path, capsys):
    bad = tmp_path / "x_fx-test.json"
    bad.write_text(json.dumps([{"scene_id": 1, "image_id": 0, "category_id": 42, "score": 0.5, "bbox": [0, 0, 1, 1],
                                "segmentation": {"counts": "0", "size": [1, 1]}, "time": -1}]))
    rc = main(["bop", "eval", "--dataset", str(bop_root), "--results", str(bad), "--out", str(tmp_path / "s.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown category_id 42" in err and len(err.strip().splitlines()) == 1
    assert main(["bop", "eval", "--dataset", str(tmp_path), "--results", str(bad), "--out", str(tmp_path / "s.json")]) == 2
    assert "camera.json" in capsys.readouterr().err


def test_detect_cli(bop_root, embedder_ckpt, tmp_path, capsys):
    from identification.gallery import Gallery
    from vision.bop.infer import build_identifier
    from vision.bop.reader import BopDataset
    from vision.pipeline import load_identifier

    ident = load_identifier(embedder_ckpt)
    ident, _ = build_identifier(BopDataset(bop_root), "static", ident.embedder)
    gallery = tmp_path / "gallery"
    ident.gallery.save(gallery)
    assert len(Gallery.load(gallery)) == 4
    images = bop_root / "test" / "000001" / "rgb"
    bad_dir = tmp_path / "imgs"
    bad_dir.mkdir()
    for p in sorted(images.iterdir())[:2]:
        (bad_dir / p.name).write_bytes(p.read_bytes())
    (bad_dir / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "det"
    rc = main(["detect", str(bad_dir), "--gallery", str(gallery), "--checkpoint", str(embedder_ckpt), "--out", str(out),
               "--depth", str(bop_root / "test" / "000001" / "depth"), "--depth-scale", "0.1", "--min-area", "300",
               "--score-threshold", "0.0"])
    assert rc == 0
    rep = json.loads((out / "detections.json").read_text())
    assert rep["images"] == 2 and rep["skipped_images"] == 1 and rep["skipped"][0]["image"].endswith("broken.png")
    assert rep["detections"] > 0 and "total" in rep["mean_timings_ms"]
    assert sorted(p.name for p in (out / "annotated").iterdir()) == ["000000.png", "000001.png"]
    assert "min_area: 300" in (out / "config.yaml").read_text() and rep["config"]["score_threshold"] == 0.0
    assert main(["detect", str(tmp_path / "missing.png"), "--gallery", str(gallery), "--checkpoint", str(embedder_ckpt),
                 "--out", str(tmp_path / "d2")]) == 2
    assert main(["detect", str(bad_dir), "--gallery", str(gallery), "--checkpoint", str(embedder_ckpt),
                 "--out", str(tmp_path / "d3"), "--targets", "1,77"]) == 2
    assert "not in the gallery: 77" in capsys.readouterr().err


def test_download_sam_refused_is_one_line(tmp_path, capsys, monkeypatch):
    import vision.sam as sam

    bad = {k: sam.SamCheckpoint(v.filename, v.model_type, "http://127.0.0.1:9/" + v.filename, v.sha256)
           for k, v in sam.SAM_CHECKPOINTS.items()}
    monkeypatch.setattr(sam, "SAM_CHECKPOINTS", bad)
    rc = main(["vision", "download-sam", "vit_b", "--dest", str(tmp_path), "--timeout", "5"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: cannot download") and len(err.splitlines()) == 1


def test_every_vision_config_loads_and_flags_override(tmp_path):
    import argparse
    from pathlib import Path

    from vision.common.config import load_config
    from vision.common.errors import UserError
    from vision.config import DetectConfig, resolve_detect_config

    configs = sorted(Path("configs/vision").glob("*.yaml"))
    assert len(configs) >= 3
    for path in configs:
        assert isinstance(load_config(path, DetectConfig), DetectConfig)
    paper = load_config(Path("configs/vision/detect-paper.yaml"), DetectConfig)
    assert paper.segmenter.sam_preset == "paper" and paper.min_area == 2500
    args = argparse.Namespace(config=Path("configs/vision/detect-paper.yaml"), min_area=900, segmenter=None, no_verify=True)
    cfg = resolve_detect_config(args, {"score_threshold": 0.2})
    assert cfg.min_area == 900 and cfg.segmenter.kind == "sam" and cfg.score_threshold == 0.5 and not cfg.segmenter.verify
    assert resolve_detect_config(argparse.Namespace(config=None), {"score_threshold": 0.2}).score_threshold == 0.2
    bad = tmp_path / "bad.yaml"
    bad.write_text("min_aera: 3\n")
    with pytest.raises(UserError, match="unknown key 'min_aera'"):
        resolve_detect_config(argparse.Namespace(config=bad))


def test_detect_bad_flags_are_one_line_errors(bop_root, embedder_ckpt, tmp_path, capsys):
    # out-of-range flags ended in ValueError tracebacks, or were silently accepted (--nms-iou 7, unknown preset,
    # a --depth path that does not exist, an RGB image given as depth)
    from vision.bop.infer import build_identifier
    from vision.bop.reader import BopDataset
    from vision.pipeline import load_identifier

    ident = load_identifier(embedder_ckpt)
    ident, _ = build_identifier(BopDataset(bop_root), "static", ident.embedder)
    gallery = tmp_path / "gallery"
    ident.gallery.save(gallery)
    image = bop_root / "test" / "000001" / "rgb" / "000000.png"
    base = ["detect", str(image), "--gallery", str(gallery), "--checkpoint", str(embedder_ckpt), "--out", str(tmp_path / "d")]
    cases = [(["--max-instances", "0"], "max_instances"), (["--top-k", "0"], "top_k"), (["--min-area", "-5"], "min_area"),
             (["--nms-iou", "7"], "nms_iou"), (["--sam-preset", "nope"], "unknown SAM preset 'nope'"),
             (["--depth", str(tmp_path / "none")], "--depth file or folder does not exist"),
             (["--depth", str(image)], "single channel"), (["--depth-scale", "0"], "--depth-scale")]
    for extra, message in cases:
        capsys.readouterr()
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (extra, err)
        assert not (tmp_path / "d").exists()


def test_bop_fixture_counts_below_one_are_one_line_errors(tmp_path, capsys):
    # --objects 0 was a ValueError traceback; --scenes 0 / --images -1 wrote a dataset without images
    for flag in ("--objects", "--scenes", "--images"):
        capsys.readouterr()
        assert main(["bop", "fixture", "--out", str(tmp_path / "fx"), flag, "0"]) == 2
        err = capsys.readouterr().err.strip()
        assert "must be >= 1" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "fx").exists()
