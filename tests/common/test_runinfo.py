import hashlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from vision.common.progress import print_table, track
from vision.common.runinfo import machine_info, package_versions, seed_everything, sha256_file


def test_sha256_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path, chunk_bytes=1000) == hashlib.sha256(data).hexdigest()


def test_seed_everything_is_reproducible() -> None:
    seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_machine_info_and_versions() -> None:
    info = machine_info()
    assert info["cores"] >= 1 and info["python"].count(".") == 2
    assert package_versions(("numpy", "no-such-package-xyz")) == {"numpy": np.__version__, "no-such-package-xyz": None}


@pytest.mark.parametrize("enabled", ["0", "1"])
def test_track_yields_every_item(monkeypatch: pytest.MonkeyPatch, enabled: str) -> None:
    monkeypatch.setenv("EDGEVISION_NO_PROGRESS", enabled)
    assert list(track(iter(range(5)), "work", total=5)) == [0, 1, 2, 3, 4]


def test_print_table(capsys: pytest.CaptureFixture[str]) -> None:
    print_table("results", ["method", "psnr"], [("stdo", 38.123456), ("bicubic", 31.0)])
    out = capsys.readouterr().out
    assert "stdo" in out and "38.12" in out and "results" in out
