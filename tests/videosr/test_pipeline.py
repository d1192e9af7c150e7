"""End to end on a generated clip through the CLI: report schema, run folder contract, STDO beats
bicubic; and every bad input gives exit code 2 with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from demos.cli import main
from videosr.metadata import read_label_map
from videosr.run_folder import load_run, load_sr_model

METHOD_KEYS = {"psnr_rgb", "psnr_y", "ssim", "steps", "train_seconds", "params"}
REPORT_KEYS = {"video", "scale", "frames", "hr_size", "grid", "chunks", "label_bits_per_frame", "methods"}


@pytest.fixture(scope="module")
def run_dir(tiny_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    rc = main(["videosr", "run", str(tiny_clip), "--scale", "4", "--chunks", "2", "--model", "espcn", "--out", str(out),
               "--steps", "60", "--grid", "2x3", "--budget", "equal", "--save-frames", "stdo,bicubic", "--features", "16",
               "--threads", "1"])
    assert rc == 0
    return out


def test_report_schema_and_stdo_beats_bicubic(run_dir: Path) -> None:
    report = json.loads((run_dir / "report.json").read_text())
    assert REPORT_KEYS <= set(report)
    assert report["scale"] == 4 and report["frames"] == 6 and report["hr_size"] == [64, 96]
    assert report["grid"] == [2, 3] and report["chunks"] == 2 and report["label_bits_per_frame"] == 6
    assert set(report["methods"]) == {"bicubic", "single", "single_long", "temporal", "stdo", "stdo_joint"}
    for name, m in report["methods"].items():
        assert METHOD_KEYS <= set(m), name
        assert len(m["psnr_per_frame"]) == 6 and len(m["psnr_per_chunk"]) == 2
        assert m["psnr_patch_shave_px"] == 4  # 32x32 HR patches at x4: the reference shave applies
    b, s = report["methods"]["bicubic"], report["methods"]["stdo"]
    assert b["steps"] == 0 and b["train_seconds"] == 0 and b["params"] == 0
    assert s["psnr_rgb"] > b["psnr_rgb"]
    # budget equal: every method from M0 gets N more steps in total
    steps = {k: v["steps"] for k, v in report["methods"].items()}
    assert steps == {"bicubic": 0, "single": 60, "single_long": 120, "temporal": 120, "stdo": 120, "stdo_joint": 120}
    assert report["methods"]["stdo"]["steps_per_model"] == [90, 90]
    assert report["corrupt_frames_skipped"] == 0


def test_run_folder_contract(run_dir: Path) -> None:
    run = load_run(run_dir)
    assert run.scale == 4 and run.grid == (2, 3) and run.chunks == 2 and run.arch == "espcn"
    assert [p.name for p in run.methods["stdo"]] == ["stdo_chunk0.pt", "stdo_chunk1.pt"]
    assert len(run.lr_frames()) == 6 and len(run.hr_frames()) == 6
    labels = read_label_map(run.label_map_path)
    assert labels.labels.shape == (6, 2, 3) and labels.chunks == 2
    counts = np.bincount(labels.labels.ravel(), minlength=2)
    assert counts.tolist() == [18, 18]  # equal-count chunks
    # replaying the stored LR frames with the stored models reproduces the saved STDO frames exactly
    lr = [cv2.imread(str(p))[..., ::-1].copy() for p in run.lr_frames()]
    from videosr.reconstruct import reconstruct

    models = [load_sr_model(run, "stdo", i) for i in range(2)]
    recon = reconstruct(models, labels.labels, lr, run.grid)
    saved = cv2.imread(str(run_dir / "frames" / "stdo" / "000003.png"))[..., ::-1]
    np.testing.assert_array_equal(recon[3], saved)
    assert (run_dir / "frames" / "bicubic" / "000000.png").is_file()
    assert (run_dir / "plots" / "psnr_per_frame.png").is_file() and (run_dir / "plots" / "chunk_labels.png").is_file()
    assert (run_dir / "config.yaml").is_file() and (run_dir / "video" / "stdo.mp4").is_file()
    assert not (run_dir.parent / ".run.work").exists()


def _fails(args: list[str], out: Path, capsys: pytest.CaptureFixture[str], pattern: str) -> None:
    rc = main(["videosr", "run", *args, "--out", str(out), "--steps", "5"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert pattern in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not (out.parent / f".{out.name}.work").exists()


def test_bad_inputs(tiny_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"garbage" * 100)
    _fails([str(junk)], tmp_path / "o1", capsys, "cannot open video")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "0.png").write_bytes(b"nope")
    _fails([str(broken)], tmp_path / "o2", capsys, "no decodable frames")
    _fails([str(tiny_clip), "--patch", "32"], tmp_path / "o3", capsys, "smaller than one 32x32 patch")
    _fails([str(tiny_clip), "--grid", "3x5"], tmp_path / "o4", capsys, "does not divide")
    _fails([str(tiny_clip), "--grid", "1x1", "--frames", "2", "--chunks", "3"], tmp_path / "o5", capsys, "larger than the number of patches")
    _fails([str(tmp_path / "nothing.mp4")], tmp_path / "o6", capsys, "does not exist")
    existing = tmp_path / "exists"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    rc = main(["videosr", "run", str(tiny_clip), "--out", str(existing), "--steps", "5"])
    assert rc == 2 and "already exists" in capsys.readouterr().err
    assert (existing / "keep.txt").read_text() == "mine"


def test_general_model_from_state_dict_or_lightning_ckpt(tmp_path: Path) -> None:
    import torch

    from videosr.models import build_sr
    from videosr.pipeline import _load_general_model
    from vision.common.errors import UserError

    model = build_sr("espcn", 2, features=8, mid_features=4)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "m.ckpt")
    x = torch.rand(1, 3, 5, 5)
    for name in ("m.pt", "m.ckpt"):
        loaded = _load_general_model(str(tmp_path / name), "espcn", 2, {"features": 8, "mid_features": 4})
        torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(UserError, match="does not match"):
        _load_general_model(str(tmp_path / "m.pt"), "espcn", 2, {})


def test_interrupted_run_resumes(tiny_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import videosr.pipeline as pipeline
    from videosr.config import ModelConfig, RunConfig, TrainConfig

    cfg = RunConfig(video=str(tiny_clip), scale=4, chunks=2, grid=[2, 3], frames=3, save_video=[],
                    methods=["bicubic", "single", "stdo"], model=ModelConfig(kwargs={"features": 8, "mid_features": 4}),
                    train=TrainConfig(steps=6, batch_size=4, crop=8, checkpoint_every=2))
    out = tmp_path / "run"
    real_fit = pipeline.fit
    calls: list[str] = []

    def interrupted(*args: object, **kwargs: object) -> object:
        tag = args[6]
        calls.append(str(tag))
        if tag == "stdo_chunk1":
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(pipeline, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_stdo(cfg, out)
    work = tmp_path / ".run.work"
    assert not out.exists() and (work / "single.done.pt").is_file() and (work / "stdo_chunk0.done.pt").is_file()
    assert calls == ["single", "stdo_chunk0", "stdo_chunk1"]
    # mark the finished M0 so that reuse (not retraining, which is deterministic) can be seen
    import torch

    marked = {k: v + 0.25 for k, v in torch.load(work / "single.done.pt", weights_only=True).items()}
    torch.save(marked, work / "single.done.pt")
    monkeypatch.setattr(pipeline, "fit", real_fit)
    # options that do not change training (saved outputs, threads) keep the checkpoints
    cfg.save_frames, cfg.train.threads = ["stdo"], 1
    report = pipeline.run_stdo(cfg, out)
    assert report["methods"]["single"]["steps"] == 6 and out.is_dir() and not work.exists()
    for k, v in torch.load(out / "models" / "single.pt", weights_only=True).items():
        torch.testing.assert_close(v, marked[k])
    assert (out / "frames" / "stdo" / "000000.png").is_file()


def test_bad_options_fail_before_any_training(tiny_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Mistakes found only after training M0 used to leave a work folder (or end in a traceback)."""
    import torch

    import videosr.pipeline as pipeline
    from videosr.models import build_sr

    def no_training(*args: object, **kwargs: object) -> object:
        raise AssertionError("training started before the options were validated")

    monkeypatch.setattr(pipeline, "fit", no_training)
    cfg = tmp_path / "three.yaml"
    cfg.write_text("train: {joint_fractions: [1.0, 0.5, 0.0]}\n")
    _fails([str(tiny_clip), "--config", str(cfg), "--chunks", "2"], tmp_path / "o1", capsys, "joint_fractions has 3 values for 2 chunks")
    _fails([str(tiny_clip), "--grid", "16x24", "--chunks", "300"], tmp_path / "o2", capsys, "--chunks must be <= 256")
    _fails([str(tiny_clip), "--general-model", str(tmp_path / "none.pt")], tmp_path / "o3", capsys, "does not exist")
    _fails([str(tiny_clip), "--features", "0"], tmp_path / "o5", capsys, "bad model options")
    _fails([str(tiny_clip), "--methods", "single", "--save-frames", "stdo"], tmp_path / "o7", capsys, "not among the methods run")
    _fails([str(tiny_clip), "--model", "edsr", "--model-arg", "features=0"], tmp_path / "o6", capsys, "bad model options")
    torch.save(build_sr("espcn", 4, features=8, mid_features=4).state_dict(), tmp_path / "small.pt")
    _fails([str(tiny_clip), "--general-model", str(tmp_path / "small.pt")], tmp_path / "o4", capsys, "does not match")
