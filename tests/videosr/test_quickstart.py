"""The quickstart step runs on generated video and publishes the run folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from videosr.quickstart import quickstart_config, step
from videosr.run_folder import load_run


def test_quickstart_config_is_small() -> None:
    cfg = quickstart_config(Path("x.mp4"), 0)
    assert cfg.train.steps <= 600 and cfg.chunks == 2  # ~30 s on 2 idle cores; the quickstart must stay < 5 min


@pytest.mark.slow
def test_quickstart_step(tmp_path: Path) -> None:
    result = step(tmp_path, 0, {})
    assert result.figures["psnr_stdo"] > result.figures["psnr_bicubic"]
    run = load_run(result.artifacts["videosr_run"])
    assert run.chunks == 2 and all(p.is_file() for p in result.outputs)
