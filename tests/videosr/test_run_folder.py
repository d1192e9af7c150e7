"""Run folder contract: save_models -> load_run -> load_sr_model reproduces the models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from videosr.metadata import write_label_map
from videosr.models import build_sr
from videosr.run_folder import load_run, load_sr_model, save_models
from vision.common.errors import UserError


def test_save_and_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    kw = {"features": 8, "mid_features": 4}
    models = {m: [build_sr("espcn", 2, **kw) for _ in range(n)] for m, n in [("single", 1), ("stdo", 2), ("temporal", 2)]}
    (tmp_path / "lr").mkdir()
    write_label_map(tmp_path / "labels.bin", np.zeros((1, 2, 2), np.uint8), 2)
    names = save_models(tmp_path / "models", "espcn", 2, models["single"][0].arch_kwargs, (2, 2), 2, models)
    assert names == {"single": ["single.pt"], "stdo": ["stdo_chunk0.pt", "stdo_chunk1.pt"],
                     "temporal": ["temporal_0.pt", "temporal_1.pt"]}
    run = load_run(tmp_path)
    assert run.scale == 2 and run.grid == (2, 2) and run.chunks == 2 and run.hr_dir is None
    x = torch.rand(1, 3, 4, 4)
    loaded = load_sr_model(run, "stdo", 1)
    assert not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), models["stdo"][1](x))
    with pytest.raises(UserError):
        load_sr_model(run, "stdo_joint")
    with pytest.raises(UserError):
        load_sr_model(run, "stdo", 2)
    with pytest.raises(UserError):
        load_run(tmp_path / "nope")
