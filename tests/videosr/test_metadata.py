"""Label map: exact round trip, sizes, header validation, and no torch import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from videosr.metadata import HEADER_BYTES, bits_per_label, encode_label_map, read_label_map, write_label_map
from vision.common.errors import UserError


@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 5, 8, 16, 200, 256])
def test_round_trip(tmp_path: Path, chunks: int) -> None:
    rng = np.random.default_rng(chunks)
    labels = rng.integers(0, chunks, size=(7, 3, 5)).astype(np.uint8)
    labels[0, 0, 0], labels[-1, -1, -1] = chunks - 1, 0  # the extreme labels always occur
    bits = write_label_map(tmp_path / "l.bin", labels, chunks)
    assert bits == 15 * bits_per_label(chunks)
    lm = read_label_map(tmp_path / "l.bin")
    np.testing.assert_array_equal(lm.labels, labels)
    assert lm.chunks == chunks and lm.bits_per_frame == bits and lm.grid == (3, 5) and lm.frames == 7
    assert (tmp_path / "l.bin").stat().st_size == HEADER_BYTES + 7 * ((bits + 7) // 8)


def test_bits_per_label_and_known_bytes() -> None:
    assert [bits_per_label(k) for k in (1, 2, 3, 4, 5, 8, 9, 256)] == [1, 1, 2, 2, 3, 3, 4, 8]
    # 2 chunks, one frame 1x4 grid labels 1,0,1,1 -> bits 1011 padded -> 0b10110000
    data = encode_label_map(np.array([[[1, 0, 1, 1]]], dtype=np.uint8), 2)
    assert data[HEADER_BYTES:] == bytes([0b10110000])
    # 4 chunks: labels 3,1 -> 11 01 -> 0b11010000
    data = encode_label_map(np.array([[[3, 1]]], dtype=np.uint8), 4)
    assert data[HEADER_BYTES:] == bytes([0b11010000])


def test_bad_files(tmp_path: Path) -> None:
    good = encode_label_map(np.zeros((2, 2, 2), np.uint8), 2)
    for name, data in {"short": good[:5], "magic": b"XXXX" + good[4:], "trunc": good[:-1]}.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError):
            read_label_map(tmp_path / name)
    with pytest.raises(UserError):
        read_label_map(tmp_path / "missing.bin")
    with pytest.raises(ValueError):
        encode_label_map(np.full((1, 1, 1), 2, np.uint8), 2)


def test_metadata_does_not_import_torch() -> None:
    code = "import sys, videosr.metadata; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
