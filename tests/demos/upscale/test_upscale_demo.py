"""`edgevision demo upscale`: STDO run -> bundle -> playback -> comparison, on a tiny generated clip."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from demos.cli import main
from demos.upscale.demo import side_by_side


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_side_by_side_layout() -> None:
    panels = [np.full((21, 30, 3), v, np.uint8) for v in (10, 20, 30)]
    out = side_by_side(panels, gap=4)
    band = 14
    assert out.shape == (21 + band + 1, 3 * 30 + 2 * 4, 3)  # height padded to even for yuv420p
    assert out.shape[0] % 2 == 0 and out.shape[1] % 2 == 0
    for i, v in enumerate((10, 20, 30)):
        x = i * 34
        assert (out[band : band + 21, x : x + 30] == v).all()
    assert (out[band:, 30:34] == 255).all()  # white gap


def test_upscale_demo_end_to_end(tmp_path, capsys) -> None:
    from videosr.synthetic import write_clip

    clip = write_clip(tmp_path / "clip.mp4", frames=4, height=64, width=96, seed=1)
    out = tmp_path / "demo"
    args = ["demo", "upscale", str(clip), "--out", str(out), "--steps", "10", "--grid", "2x2", "--chunks", "2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "PSNR RGB" in printed and "bundle playback" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 4 and report["hr_size"] == [64, 96] and report["lr_size"] == [16, 24]
    assert report["bundle_tile"] == [16, 24]  # one tile spans each small LR axis exactly
    table = {row["method"]: row for row in report["psnr_table"]}
    # the phone-side playback (onnxruntime, tiles) reproduces the PyTorch STDO reconstruction
    assert table["stdo (bundle playback, onnxruntime fp32)"]["psnr_rgb"] == pytest.approx(
        table["stdo (pytorch)"]["psnr_rgb"], abs=0.05)
    assert table["bicubic"]["psnr_rgb"] == pytest.approx(report["psnr_table"][0]["psnr_rgb"], abs=1e-6)
    for rel in ("run/report.json", "bundle/manifest.json", "playback/stdo.mp4", "comparison.mp4"):
        assert (out / rel).exists(), rel
    # paths recorded while building point to the published folder, not the temporary build folder
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    assert Path(manifest["source_run"]) == out / "run"
    playback = json.loads((out / "playback" / "stdo.json").read_text())
    assert Path(playback["bundle"]) == out / "bundle" and Path(playback["out"]).is_file()
    still = cv2.imread(str(out / "comparison.png"))
    assert still.shape[1] == 3 * 96 + 2 * 4 and still.shape[0] > 64
    import av

    with av.open(str(out / "comparison.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4

    assert main(args) == 2  # exists, no --overwrite
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_upscale_bad_inputs(tmp_path, capsys) -> None:
    assert main(["demo", "upscale", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o")]) == 2
    assert "video does not exist" in capsys.readouterr().err
    (tmp_path / "v.mp4").write_bytes(b"not a video")
    assert main(["demo", "upscale", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "o"), "--grid", "2by2"]) == 2
    assert "--grid must look like ROWSxCOLS" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_upscale_zero_grid_or_tile_is_a_user_error(tmp_path, capsys) -> None:
    """--grid 0x0 used to reach videosr and end in a ZeroDivisionError traceback."""
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    for flag, value in (("--grid", "0x0"), ("--grid", "3x0"), ("--tile", "0x16")):
        assert main(["demo", "upscale", str(video), "--out", str(tmp_path / "o"), flag, value]) == 2
        err = capsys.readouterr().err
        assert f"{flag} must look like" in err and "positive" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
