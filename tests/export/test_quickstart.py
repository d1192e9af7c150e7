from __future__ import annotations

import time

import pytest

from export.quickstart import step
from vision.common.errors import UserError


def test_quickstart_step_builds_and_plays_bundle(sr_run, tmp_path) -> None:
    start = time.perf_counter()
    result = step(tmp_path / "export", 0, {"videosr_run": sr_run})
    assert time.perf_counter() - start < 45
    fig = result.figures
    assert result.artifacts["sr_bundle"].joinpath("manifest.json").is_file()
    assert fig["method"] == "stdo" and fig["models"] == 4 and fig["tile"] == "40x56"
    assert fig["player_fps"] > 0 and fig["player_fps_int8"] > 0 and fig["max_abs_error"] <= 1e-4
    assert fig["psnr_played"] is not None and 10 < fig["psnr_played"] < 60
    assert abs(fig["int8_psnr_drop_db"]) < 0.5
    assert all(p.exists() for p in result.outputs)


def test_quickstart_step_needs_the_run(tmp_path) -> None:
    with pytest.raises(UserError, match="videosr"):
        step(tmp_path, 0, {})
