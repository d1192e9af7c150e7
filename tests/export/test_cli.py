from __future__ import annotations

import json
import platform

import numpy as np
import pytest

from demos.cli import main
from export import macos_parity


def test_export_sr_cli_with_coreml_then_play(sr_run, tmp_path, capsys) -> None:
    bundle = tmp_path / "bundle"
    args = ["export", "sr", "--run", str(sr_run), "--formats", "onnx,coreml", "--int8", "--methods", "stdo",
            "--tile", "16x24", "--calibration-tiles", "4", "--out", str(bundle)]  # fmt: skip
    assert main(args) == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    fp32 = [m for m in manifest["models"] if m["precision"] == "fp32"]
    assert len(fp32) == 2 and all(m["coreml"].endswith(".mlpackage") for m in fp32)
    assert any(f.startswith(fp32[0]["coreml"] + "/") for f in manifest["files"])  # package contents hashed
    for spec in manifest["coreml"]["spec"].values():
        assert spec["inputs"] == {"lr": [1, 3, 16, 24]} and spec["outputs"] == {"hr": [1, 3, 32, 48]}
    assert main(args) == 2  # exists without --overwrite
    assert "already exists" in capsys.readouterr().err
    out = tmp_path / "hr.mp4"
    assert main(["play", "--bundle", str(bundle), "--lr", str(sr_run / "lr"), "--out", str(out), "--precision", "int8"]) == 0
    assert "fps" in capsys.readouterr().out and out.is_file()


def test_cli_user_errors(tmp_path, capsys) -> None:
    assert main(["export", "sr", "--run", str(tmp_path / "missing"), "--out", str(tmp_path / "b")]) == 2
    assert "run folder does not exist" in capsys.readouterr().err
    assert main(["play", "--bundle", str(tmp_path), "--lr", str(tmp_path), "--out", str(tmp_path / "o.mp4")]) == 2
    assert "manifest" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "sr", "--run", "r", "--out", "o", "--tile", "axb"])


def test_macos_parity_compare_and_linux_refusal(tmp_path, capsys) -> None:
    weights = np.array([0.5, 2.0], np.float32)

    def onnx_run(feeds):
        return {"y": feeds["x"] * weights[0]}

    def coreml_close(feeds):
        return {"y": (feeds["x"] * weights[0]).astype(np.float16)}

    def coreml_wrong(feeds):
        return {"y": feeds["x"] * weights[1]}

    ok = macos_parity.compare_models(coreml_close, onnx_run, {"x": (1, 3, 4, 4)})
    assert ok["passed"] and ok["max_abs_error"] < 1e-3 and ok["psnr_db"]["y"] > 60
    bad = macos_parity.compare_models(coreml_wrong, onnx_run, {"x": (1, 3, 4, 4)})
    assert not bad["passed"] and bad["max_abs_error"] > 0.1
    if platform.system() != "Darwin":
        assert macos_parity.main(["--mlpackage", str(tmp_path / "m.mlpackage"), "--onnx", str(tmp_path / "m.onnx")]) == 2
        assert "only on macOS" in capsys.readouterr().err
    assert macos_parity.main([]) == 2


def test_export_sam_no_verify_reaches_the_loader(tmp_path, monkeypatch, capsys) -> None:
    """The SHA-256 error tells users to pass --no-verify: `export sam` must accept it and pass it on."""
    import vision.sam
    from vision.common.errors import UserError

    seen = []

    def fake_build_sam(name, checkpoint=None, verify=True, **kwargs):
        seen.append(verify)
        raise UserError("stop here", checkpoint)

    monkeypatch.setattr(vision.sam, "build_sam", fake_build_sam)
    ckpt = tmp_path / "finetuned.pth"
    ckpt.write_bytes(b"x")
    base = ["export", "sam", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")]
    assert main([*base, "--no-verify"]) == 2 and main(base) == 2
    assert seen == [False, True] and "stop here" in capsys.readouterr().err


def test_macos_parity_refuses_existing_report_and_missing_bundle(tmp_path, capsys) -> None:
    """The report was rewritten in place without --overwrite; a folder without manifest gave a traceback."""
    report = tmp_path / "r.json"
    report.write_text("{}")
    args = ["--mlpackage", str(tmp_path / "m.mlpackage"), "--onnx", str(tmp_path / "m.onnx"), "--report", str(report)]
    assert macos_parity.main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err and report.read_text() == "{}"
    assert macos_parity.main(["--bundle", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err



@pytest.mark.parametrize("script", ["export_bench.py", "grasp_bench.py"])
def test_benchmarks_refuse_an_existing_report_before_timing(script: str, tmp_path) -> None:
    """The benchmarks replaced their JSON report without --overwrite (after minutes of timing)."""
    import importlib.util
    from pathlib import Path

    from vision.common.errors import UserError

    path = Path(__file__).resolve().parents[2] / "benchmarks" / script
    spec = importlib.util.spec_from_file_location(path.stem, path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    out.write_text("{}")
    with pytest.raises(UserError, match="already exists"):
        bench.main(["--out", str(out)])
    assert out.read_text() == "{}"
