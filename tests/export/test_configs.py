"""configs/export/*.yaml load strictly into their typed configs; `export sr --config` with flag overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demos.cli import main
from export.bundle import SRBundleOptions
from vision.common.config import config_to_dict, load_config
from vision.common.errors import UserError

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "export"
TYPES = {"sr": SRBundleOptions}  # file name prefix -> config type


def test_every_export_config_loads() -> None:
    files = sorted(CONFIGS.glob("*.yaml"))
    assert files and (CONFIGS / "sr-bundle.yaml") in files
    for path in files:
        cls = TYPES[path.name.split("-")[0]]
        cfg = load_config(path, cls)
        assert isinstance(cfg, cls), path
    assert config_to_dict(load_config(CONFIGS / "sr-bundle.yaml", SRBundleOptions)) == config_to_dict(SRBundleOptions())
    qnn = load_config(CONFIGS / "sr-bundle-qnn.yaml", SRBundleOptions)
    assert qnn.int8 and qnn.quant_preset == "qnn_u16"


def test_bad_keys_and_values_are_user_errors(tmp_path: Path) -> None:
    for text, msg in [("tiles: [16, 16]\n", "unknown key 'tiles'"), ("quant_preset: qnn8\n", "quant_preset"),
                      ("formats: [onnx, tflite]\n", r"formats\[1\]"), ("tile: [16]\n", "must have 2 items")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(UserError, match=msg):
            load_config(bad, SRBundleOptions)


def test_export_sr_config_file_with_flag_overrides_saved_in_bundle(sr_run: Path, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "export.yaml"
    cfg.write_text("methods: [single]\ntile: [16, 24]\nparity_tiles: 3\nseed: 5\n")
    bundle = tmp_path / "bundle"
    assert main(["export", "sr", "--run", str(sr_run), "--out", str(bundle), "--config", str(cfg), "--methods", "stdo",
                 "--seed", "7"]) == 0  # fmt: skip
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["methods"] == ["stdo"] and manifest["tile"] == [16, 24]  # flag over file, file over default
    assert all(p["samples"] == 3 for p in manifest["parity"])
    saved = load_config(bundle / manifest["config"], SRBundleOptions)
    assert saved == SRBundleOptions(methods=("stdo",), tile=(16, 24), parity_tiles=3, seed=7)
    assert manifest["config"] in manifest["files"]
    cfg.write_text("method: [stdo]\n")
    assert main(["export", "sr", "--run", str(sr_run), "--out", str(tmp_path / "b2"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'method'" in err and str(cfg) in err and not (tmp_path / "b2").exists()
