"""`mypy export demos` stays clean (the pyproject [tool.mypy] settings); slow: a cold mypy run takes ~1 min."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy is not installed (pip install -e .[dev])")
def test_mypy_export_and_demos_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "export", "demos"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:]
