import json
import subprocess
import sys
from pathlib import Path

import pytest

from demos.quickstart import StepResult, run_quickstart
from vision.common.errors import UserError


def test_steps_share_artifacts_and_failures_are_reported(tmp_path: Path) -> None:
    seen: dict[str, Path] = {}

    def first(workdir: Path, seed: int, context: dict[str, Path]) -> StepResult:
        workdir.mkdir(parents=True)
        (workdir / "model.bin").write_bytes(b"x")
        return StepResult("first", {"score": 0.5}, [workdir / "model.bin"], {"model": workdir / "model.bin"})

    def broken(workdir: Path, seed: int, context: dict[str, Path]) -> StepResult:
        raise RuntimeError("no data")

    def last(workdir: Path, seed: int, context: dict[str, Path]) -> StepResult:
        seen.update(context)
        return StepResult("last", {"seed": seed})

    out = tmp_path / "qs"
    rows = run_quickstart(out, seed=7, steps=[("first", first), ("broken", broken), ("last", last)])
    assert [r["ok"] for r in rows] == [True, False, True]
    assert rows[1]["figures"]["error"] == "RuntimeError: no data"
    assert seen == {"model": out / "first" / "model.bin"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"][2]["figures"] == {"seed": 7}
    with pytest.raises(UserError, match="--overwrite"):
        run_quickstart(out, steps=[])
    run_quickstart(out, overwrite=True, steps=[])
    assert [p.name for p in out.iterdir()] == ["summary.json"]


@pytest.mark.slow
def test_quickstart_end_to_end_in_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    proc = subprocess.run(
        [sys.executable, "-m", "demos.cli", "quickstart", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] and all(step["ok"] for step in summary["steps"])
    assert "edgevision quickstart" in proc.stdout
