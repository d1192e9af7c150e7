import json
import math
from pathlib import Path

import numpy as np
import pytest

from vision.common.atomic import atomic_dir, atomic_path, write_json_atomic, write_text_atomic
from vision.common.errors import UserError


def test_write_json_handles_numpy_and_infinity(tmp_path: Path) -> None:
    out = write_json_atomic(tmp_path / "r.json", {"a": np.float32(1.5), "b": np.arange(3), "psnr": math.inf, "p": tmp_path})
    data = json.loads(out.read_text())
    assert data == {"a": 1.5, "b": [0, 1, 2], "psnr": "inf", "p": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


def test_refuses_to_overwrite_without_flag(tmp_path: Path) -> None:
    target = write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(UserError, match="--overwrite"):
        write_text_atomic(target, "new", overwrite=False)
    assert target.read_text() == "old"
    write_text_atomic(target, "new", overwrite=True)
    assert target.read_text() == "new"


def test_failed_write_leaves_original_untouched(tmp_path: Path) -> None:
    target = write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_dir_publishes_whole_folder_or_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(RuntimeError), atomic_dir(run) as tmp:
        (tmp / "partial.txt").write_text("x")
        raise RuntimeError("interrupted")
    assert not run.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(run) as tmp:
        (tmp / "done.txt").write_text("x")
    assert (run / "done.txt").exists()
    with pytest.raises(UserError, match="already exists"), atomic_dir(run):
        pass
    with atomic_dir(run, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("y")
    assert sorted(p.name for p in run.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
