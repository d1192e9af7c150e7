from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from export.bundle import SRBundleOptions, build_sr_bundle, onnx_receptive_radius
from export.player import verify_bundle
from videosr.metadata import read_label_map
from videosr.models import build_sr
from videosr.reconstruct import stitch
from videosr.run_folder import load_run, load_sr_model
from vision.common.errors import UserError
from vision.common.runinfo import sha256_file

ROOT = Path(__file__).resolve().parents[2]

BLOCK_TORCH = textwrap.dedent(
    """
    import sys
    class _BlockTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")
            return None
    sys.meta_path.insert(0, _BlockTorch())
    """
)


def _play_without_torch(args: list[str]) -> subprocess.CompletedProcess:
    code = BLOCK_TORCH + textwrap.dedent(
        f"""
        from export.player import main
        code = main({args!r})
        assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch was imported"
        sys.exit(code)
        """
    )
    env = {**os.environ, "EDGEVISION_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _read_png(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]


def test_manifest_lists_models_hashes_and_expected_psnr(sr_bundle: Path, sr_run: Path) -> None:
    manifest = json.loads((sr_bundle / "manifest.json").read_text())
    for key in ("scale", "tile", "overlap", "chunks", "models", "label_map", "psnr"):
        assert key in manifest
    assert manifest["scale"] == 2 and manifest["tile"] == [16, 24] and manifest["chunks"] == 2
    assert manifest["overlap"] == 4  # ESPCN 5x5 + 3x3 + 3x3: receptive radius 4
    assert manifest["psnr"]["stdo"] == 30.5 and manifest["psnr"]["temporal"] is None
    stdo = [m for m in manifest["models"] if m["method"] == "stdo"]
    assert sorted((m["chunk"], m["precision"]) for m in stdo) == [(0, "fp32"), (0, "int8"), (1, "fp32"), (1, "int8")]
    for m in manifest["models"]:
        assert set(m) >= {"chunk", "onnx", "coreml", "sha256", "bytes", "precision"}
        assert m["sha256"] == sha256_file(sr_bundle / m["onnx"]) and m["bytes"] == (sr_bundle / m["onnx"]).stat().st_size
        assert not (sr_bundle / (m["onnx"] + ".data")).exists()  # single-file models
    assert set(manifest["files"]) == {p.relative_to(sr_bundle).as_posix() for p in sr_bundle.rglob("*") if p.is_file()} - {"manifest.json"}
    assert read_label_map(sr_bundle / "labels.bin").labels.tolist() == read_label_map(sr_run / "labels.bin").labels.tolist()
    for p in manifest["parity"]:
        assert p["passed"] and p["max_abs_error"] <= 1e-4 and p["dcr"]["depth_to_space_converted"] == 1
    assert manifest["quantization"]["gate"] == "psnr_drop_vs_hr"
    for cost in manifest["quantization"]["cost"].values():
        assert cost["psnr_drop_db"] is not None and cost["psnr_drop_db"] <= 0.5
        assert cost["gate"] == "psnr_drop_vs_hr" and cost["limit_db"] == 0.5
        assert cost["psnr_int8_vs_fp32"] > 30


def test_player_without_torch_reproduces_stdo_reconstruction(sr_bundle: Path, sr_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "hr.mp4"
    frames_dir = tmp_path / "frames"
    proc = _play_without_torch(["--bundle", str(sr_bundle), "--lr", str(sr_run / "lr"), "--out", str(out), "--save-frames", str(frames_dir)])
    assert proc.returncode == 0, proc.stderr
    assert "fps" in proc.stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["frames"] == 3 and report["fps"] > 0 and report["hr_size"] == [80, 112]
    assert out.stat().st_size > 0
    # reference: whole-frame PyTorch outputs of each chunk model, stitched by the label map (videosr's way)
    run = load_run(sr_run)
    models = [load_sr_model(run, "stdo", c) for c in range(run.chunks)]
    labels = read_label_map(run.label_map_path).labels
    for t, lr_file in enumerate(run.lr_frames()):
        lr = torch.from_numpy(_read_png(lr_file).transpose(2, 0, 1).copy()).float()[None] / 255
        with torch.no_grad():
            outs = [(m(lr)[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy() for m in models]
        expected = stitch(outs, labels[t], run.grid)
        played = _read_png(frames_dir / f"{t:06d}.png")
        assert np.abs(played.astype(int) - expected.astype(int)).max() <= 1


def test_player_refuses_tampered_bundle(sr_bundle: Path, sr_run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(sr_bundle, bad)
    model = bad / json.loads((bad / "manifest.json").read_text())["models"][0]["onnx"]
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(UserError, match="SHA-256"):
        verify_bundle(bad)
    proc = _play_without_torch(["--bundle", str(bad), "--lr", str(sr_run / "lr"), "--out", str(tmp_path / "x.mp4")])
    assert proc.returncode == 2 and "SHA-256" in proc.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_player_refuses_models_left_out_of_the_hashed_files(sr_bundle: Path, tmp_path: Path) -> None:
    """Swapping a model and dropping it from 'files' (or pointing outside the bundle) must not pass."""
    manifest = json.loads((sr_bundle / "manifest.json").read_text())
    first, other = manifest["models"][0]["onnx"], manifest["models"][-1]["onnx"]
    assert first != other
    for case in ("unlisted", "outside", "label_map"):
        bad = tmp_path / case
        shutil.copytree(sr_bundle, bad)
        m = json.loads((bad / "manifest.json").read_text())
        if case == "unlisted":
            shutil.copy(bad / other, bad / first)
            del m["files"][first]
        elif case == "outside":
            m["models"][0]["onnx"] = f"../{case}_copy.onnx"
            shutil.copy(bad / other, tmp_path / f"{case}_copy.onnx")
        else:
            del m["files"][m["label_map"]]
        (bad / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(UserError, match="refusing to play"):
            verify_bundle(bad)


def test_bad_options_and_manifest_overlap_are_user_errors(sr_run: Path, sr_bundle: Path, tmp_path: Path) -> None:
    """A negative overlap or zero INT8 tiles used to export (or crash with a ValueError) instead of a one-line error."""
    for opts, msg in [
        (SRBundleOptions(tile=(16, 16), overlap=-3), "overlap must be 0 or more"),
        (SRBundleOptions(int8=True, calibration_tiles=0), "at least one calibration"),
        (SRBundleOptions(methods=("single", "single")), "each method once"),  # was "<tmp>/...: already exists"
    ]:
        with pytest.raises(UserError, match=msg):
            build_sr_bundle(sr_run, tmp_path / "o", opts)
        assert not (tmp_path / "o").exists()
    bad = tmp_path / "neg"
    shutil.copytree(sr_bundle, bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["overlap"] = -3
    (bad / "manifest.json").write_text(json.dumps(m))
    proc = _play_without_torch(["--bundle", str(bad), "--lr", str(sr_run / "lr"), "--out", str(tmp_path / "x.mp4")])
    assert proc.returncode == 2 and "overlap" in proc.stderr and "Traceback" not in proc.stderr


def test_player_rejects_bad_fps_and_mixed_frame_sizes(sr_bundle: Path, sr_run: Path, tmp_path: Path) -> None:
    """--fps 0 wrote a broken 0-fps MP4 and --fps -5 raised av.error.ArgumentError."""
    from export.player import play_bundle

    for fps in (0.0, -5.0):
        with pytest.raises(UserError, match="--fps must be positive"):
            play_bundle(sr_bundle, sr_run / "lr", tmp_path / "o.mp4", fps=fps)
    assert not list(tmp_path.iterdir())
    # frames of two sizes were encoded into one video without a word
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    first = sorted((sr_run / "lr").iterdir())[0]
    shutil.copy(first, mixed / "a.png")
    cv2.imwrite(str(mixed / "b.png"), cv2.resize(cv2.imread(str(first)), (40, 20)))
    with pytest.raises(UserError, match="all LR frames must have one size"):
        play_bundle(sr_bundle, mixed, tmp_path / "m.mp4")
    assert not (tmp_path / "m.mp4").exists()


def test_player_refuses_lr_of_another_size_than_the_run(sr_bundle: Path, sr_run: Path, tmp_path: Path) -> None:
    """The label map and tile plan are for the run's 56x40 LR: other sizes were played silently."""
    from export.player import play_bundle

    assert json.loads((sr_bundle / "manifest.json").read_text())["lr_size"] == [40, 56]
    other = tmp_path / "other"
    other.mkdir()
    for f in sorted((sr_run / "lr").iterdir()):
        cv2.imwrite(str(other / f.name), cv2.resize(cv2.imread(str(f)), (64, 48)))
    with pytest.raises(UserError, match="64x48 but the bundle was made for 56x40") as err:
        play_bundle(sr_bundle, other, tmp_path / "o.mp4")
    assert str(other) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.json").exists()


def test_play_refuses_a_json_out_that_its_report_would_overwrite(sr_bundle: Path, sr_run: Path, tmp_path: Path) -> None:
    """--out x.json wrote the video to x.json, then replaced it by the JSON report."""
    from export.player import play_bundle

    for name in ("x.json", "x.JSON"):
        with pytest.raises(UserError, match="--out is the HR video") as err:
            play_bundle(sr_bundle, sr_run / "lr", tmp_path / name, overwrite=True)
        assert name in str(err.value)
    assert not list(tmp_path.iterdir())


def test_player_int8_temporal_and_overwrite(sr_bundle: Path, sr_run: Path, tmp_path: Path) -> None:
    from export.player import play_bundle

    out = tmp_path / "q.mp4"
    report = play_bundle(sr_bundle, sr_run / "lr", out, precision="int8", save_frames=tmp_path / "q")
    assert report["frames"] == 3 and report["precision"] == "int8"
    with pytest.raises(UserError, match="already exists"):
        play_bundle(sr_bundle, sr_run / "lr", out)
    rep = play_bundle(sr_bundle, sr_run / "lr", tmp_path / "t.mp4", method="temporal", save_frames=tmp_path / "t", max_frames=2)
    assert rep["frames"] == 2
    with pytest.raises(UserError, match="no fp32 models for method 'stdo_joint'"):
        play_bundle(sr_bundle, sr_run / "lr", tmp_path / "n.mp4", method="stdo_joint")
    assert not (tmp_path / "n.mp4").exists()
    # temporal: 3 frames in 2 segments like np.array_split -> frames 0, 1 use model 0
    run = load_run(sr_run)
    lr = torch.from_numpy(_read_png(run.lr_frames()[1]).transpose(2, 0, 1).copy()).float()[None] / 255
    with torch.no_grad():
        ref = (load_sr_model(run, "temporal", 0)(lr)[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.abs(_read_png(tmp_path / "t" / "000001.png").astype(int) - ref.astype(int)).max() <= 1


def test_bad_runs_fail_cleanly(sr_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    with pytest.raises(UserError, match="no models for method 'stdo_joint'"):
        build_sr_bundle(sr_run, out, SRBundleOptions(methods=("stdo_joint",)))
    assert not out.exists() and not list(tmp_path.iterdir())
    broken = tmp_path / "run"
    shutil.copytree(sr_run, broken)
    (broken / "models" / "stdo_chunk1.pt").unlink()
    with pytest.raises(UserError, match="missing"):
        build_sr_bundle(broken, out, SRBundleOptions())
    (broken / "labels.bin").unlink()
    with pytest.raises(UserError, match="label map"):
        build_sr_bundle(broken, out, SRBundleOptions())
    with pytest.raises(UserError, match="unsupported export format"):
        build_sr_bundle(sr_run, out, SRBundleOptions(formats=("tflite",)))
    existing = tmp_path / "exists"
    existing.mkdir()
    with pytest.raises(UserError, match="already exists"):
        build_sr_bundle(sr_run, existing, SRBundleOptions())
    assert not out.exists()


def test_int8_tolerance_failure_is_a_user_error(sr_run: Path, tmp_path: Path) -> None:
    options = SRBundleOptions(methods=("single",), tile=(16, 24), int8=True, calibration_tiles=2, validation_tiles=2, max_psnr_drop_db=-100.0)
    with pytest.raises(UserError, match="INT8 loses"):
        build_sr_bundle(sr_run, tmp_path / "b", options)
    assert not (tmp_path / "b").exists()


def test_int8_calibrated_and_validated_on_each_models_own_patches_and_frames(sr_bundle: Path, sr_run: Path) -> None:
    """Each STDO chunk model's INT8 tiles were drawn anywhere in the video, temporal models' from all frames."""
    manifest = json.loads((sr_bundle / "manifest.json").read_text())
    labels = read_label_map(sr_run / "labels.bin").labels
    rows, cols = labels.shape[1:]
    (h, w), (th, tw) = manifest["lr_size"], manifest["tile"]
    cost = manifest["quantization"]["cost"]
    for chunk in range(manifest["chunks"]):
        origins = cost[f"stdo_{chunk}"]["calibration_origins"] + cost[f"stdo_{chunk}"]["validation_origins"]
        assert len(origins) == 4 + 2
        for t, y0, x0 in origins:
            # the tile holds the centre of a patch that the label map gives to this chunk
            centres = [(int((r + 0.5) * h / rows), int((c + 0.5) * w / cols)) for r in range(rows) for c in range(cols)
                       if labels[t, r, c] == chunk]
            assert any(y0 <= cy < y0 + th and x0 <= cx < x0 + tw for cy, cx in centres), (chunk, t, y0, x0)
    segments = np.array_split(np.arange(len(labels)), 2)  # 3 frames, 2 temporal models: [0, 1], [2]
    for i, frames in enumerate(segments):
        origins = cost[f"temporal_{i}"]["calibration_origins"] + cost[f"temporal_{i}"]["validation_origins"]
        assert {t for t, _, _ in origins} <= set(frames.tolist())
    assert {t for t, _, _ in cost["temporal_1"]["calibration_origins"]} == {2}


def test_fp32_parity_runs_on_tiles_spread_over_the_models_frames(sr_bundle: Path) -> None:
    """Parity used to compare one tile per model: a fault outside it (another frame, a border) went unseen."""
    manifest = json.loads((sr_bundle / "manifest.json").read_text())
    parity = {p["name"].split(" ")[0]: p for p in manifest["parity"]}
    assert len(parity) == len([m for m in manifest["models"] if m["precision"] == "fp32"])
    for stem, p in parity.items():
        assert p["samples"] == 8 == len(p["origins"]) and p["passed"]
        frames = {t for t, _, _ in p["origins"]}
        assert frames == ({2} if stem == "temporal_1" else {0, 1} if stem == "temporal_0" else {0, 1, 2}), stem
        assert len({tuple(o) for o in p["origins"]}) > 1


def test_int8_without_hr_is_gated_on_psnr_vs_fp32(make_sr_run: Callable[..., Path], tmp_path: Path) -> None:
    """Without HR frames the INT8 gate was skipped: a badly quantized model shipped silently."""
    run = make_sr_run(tmp_path / "run", with_hr=False)
    base = {"methods": ("single",), "tile": (16, 24), "int8": True, "calibration_tiles": 2, "validation_tiles": 2}
    with pytest.raises(UserError, match=r"only \d+\.\d+ dB PSNR from the FP32 output.*at least 100"):
        build_sr_bundle(run, tmp_path / "bad", SRBundleOptions(**base, min_int8_psnr_vs_fp32_db=100.0))
    assert not (tmp_path / "bad").exists()
    manifest = build_sr_bundle(run, tmp_path / "ok", SRBundleOptions(**base))
    quant = manifest["quantization"]
    assert quant["gate"] == "psnr_int8_vs_fp32_floor" and quant["min_int8_psnr_vs_fp32_db"] == 40.0
    cost = quant["cost"]["single_0"]
    assert cost["gate"] == "psnr_int8_vs_fp32_floor" and cost["psnr_drop_db"] is None
    assert cost["psnr_int8_vs_fp32"] >= cost["limit_db"] == 40.0


@pytest.mark.parametrize(
    "arch,kwargs,expected",
    [
        ("espcn", {"features": 8, "mid_features": 4}, 4),  # 5x5 + 3x3 + 3x3 (any bicubic/nearest skip is shorter)
        # head 1 + block 2 + body_tail 1 + up-conv 1 (LR) + up-conv 1 at x2 (0.5) + tail at x4 (0.25) = 5.75
        ("edsr", {"features": 8, "blocks": 1}, 6),
    ],
)
def test_receptive_radius_from_onnx_graph(arch: str, kwargs: dict, expected: int, tmp_path: Path) -> None:
    import onnx

    from export.onnx import export_onnx

    model = build_sr(arch, 4, **kwargs).eval()
    path = export_onnx(model, (torch.rand(1, 3, 16, 16),), tmp_path / "m.onnx", "sr", ["lr"], ["hr"])
    radius = onnx_receptive_radius(onnx.load(str(path)))
    assert radius == expected
    # brute force: perturbing an input pixel changes outputs only within `radius` LR pixels of it
    x = torch.rand(1, 3, 24, 24)
    y = x.clone()
    y[..., 12, 12] += 1.0
    with torch.no_grad():
        diff = (model(x) - model(y)).abs().sum(dim=(0, 1)) > 0
    rows = torch.nonzero(diff.any(dim=1)).flatten()
    assert (12 - rows.min().item() // 4) <= radius and (rows.max().item() // 4 - 12) <= radius
