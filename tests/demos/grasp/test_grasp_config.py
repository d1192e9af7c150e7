"""configs/demo/grasp.yaml loads strictly into GraspDemoConfig and documents the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from demos.grasp.config import GraspDemoConfig
from vision.common.config import config_to_dict, load_config
from vision.common.errors import UserError

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "demo" / "grasp.yaml"


def test_shipped_config_matches_defaults() -> None:
    cfg = load_config(CONFIG, GraspDemoConfig)
    assert config_to_dict(cfg) == config_to_dict(GraspDemoConfig())
    assert cfg.scene.intrinsics().width == cfg.scene.width


def test_unknown_key_and_override(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("grasp:\n  suction_patch: 3\n")
    with pytest.raises(UserError, match="unknown key 'grasp.suction_patch'"):
        load_config(bad, GraspDemoConfig)
    cfg = load_config(CONFIG, GraspDemoConfig, overrides={"grasp.jaw_max_opening_m": 0.08, "storage": "sqlite3"})
    assert cfg.grasp.jaw_max_opening_m == 0.08 and cfg.storage == "sqlite3"
