from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from vision.common.config import config_to_dict, load_config, save_config
from vision.common.errors import UserError


@dataclass
class Optim:
    lr: float = 1e-3
    name: Literal["adam", "sgd"] = "adam"


@dataclass
class Cfg:
    steps: int
    optim: Optim = field(default_factory=Optim)
    grid: tuple[int, int] = (2, 2)
    tags: list[str] = field(default_factory=list)
    checkpoint: Path | None = None


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_load_nested_typed_config(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, {"steps": 5, "optim": {"lr": 1, "name": "sgd"}, "grid": [3, 4], "checkpoint": "a.ckpt"}), Cfg)
    assert cfg == Cfg(steps=5, optim=Optim(lr=1.0, name="sgd"), grid=(3, 4), checkpoint=Path("a.ckpt"))
    assert isinstance(cfg.optim.lr, float)


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = _write(tmp_path, {"steps": 5, "optim": {"lr": 0.1, "momentum": 0.9}})
    with pytest.raises(UserError) as info:
        load_config(path, Cfg)
    assert "optim.momentum" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "missing required key 'steps'"),
        ({"steps": "many"}, "'steps' must be an integer"),
        ({"steps": 1, "optim": {"name": "rmsprop"}}, "expected one of"),
        ({"steps": 1, "grid": [1, 2, 3]}, "must have 2 items"),
        ({"steps": True}, "must be an integer"),
    ],
)
def test_bad_values_are_user_errors(tmp_path: Path, data: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_config(_write(tmp_path, data), Cfg)


def test_overrides_and_round_trip(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, {"steps": 5}), Cfg, overrides={"optim.lr": 0.5, "steps": 7})
    assert cfg.steps == 7 and cfg.optim.lr == 0.5
    saved = save_config(cfg, tmp_path / "out" / "resolved.yaml")
    assert load_config(saved, Cfg) == cfg
    assert config_to_dict(cfg)["grid"] == [2, 2]


def test_invalid_yaml_is_user_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("steps: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(p, Cfg)
