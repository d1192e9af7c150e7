"""Every configs/videosr/*.yaml loads into RunConfig; cpu.yaml equals the built-in defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from videosr.config import RunConfig, joint_fractions
from videosr.models import build_sr
from vision.common.config import config_from_dict, load_config
from vision.common.errors import UserError

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "videosr").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_builds(path: Path) -> None:
    cfg = load_config(path, RunConfig)
    build_sr(cfg.model.name, cfg.scale, **cfg.model.kwargs)
    assert len(joint_fractions(cfg.chunks, cfg.train.joint_fractions)) == cfg.chunks


def test_cpu_config_is_the_default() -> None:
    assert len(CONFIGS) >= 2
    cfg = load_config(CONFIGS[0].with_name("cpu.yaml"), RunConfig)
    default = RunConfig()
    assert cfg.train == default.train and cfg.scale == default.scale and cfg.grid == default.grid
    assert build_sr(cfg.model.name, cfg.scale, **cfg.model.kwargs).arch_kwargs == build_sr("espcn", 4).arch_kwargs


def test_bad_config_values() -> None:
    with pytest.raises(UserError, match="unknown key"):
        config_from_dict({"train": {"stepz": 3}}, RunConfig)
    with pytest.raises(UserError):
        config_from_dict({"methods": ["magic"]}, RunConfig)
    with pytest.raises(UserError):
        config_from_dict({"train": {"budget": "double"}}, RunConfig)
    assert joint_fractions(3, None) == [1.0, 0.5, 0.0] and joint_fractions(1, None) == [1.0]
