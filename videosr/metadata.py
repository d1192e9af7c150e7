"""Label map: the chunk label of every patch of every frame, as a compact bit-packed binary file.

NumPy and the standard library only (the torch-free player reads it): this module must never import
torch, not even indirectly.

File layout (little-endian)::

    offset  size  field
    0       4     magic b"EVLM"
    4       1     format version (1)
    5       1     bits per label b = max(1, ceil(log2(chunks)))
    6       2     chunks k (uint16)
    8       4     frames T (uint32)
    12      2     grid rows (uint16)
    14      2     grid cols (uint16)
    16      ...   T frame records, each ceil(rows*cols*b / 8) bytes

A frame record holds its rows*cols labels in row-major patch order, each as b bits, most significant
bit first, packed with ``numpy.packbits`` (big bit order) and zero-padded to a whole byte, so a player
can seek to frame t at ``16 + t * bytes_per_frame``. ``bits_per_frame = rows*cols*b`` is the payload
the client needs per frame (excluding the padding).
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.common.atomic import write_bytes_atomic
from vision.common.errors import UserError, require_file

MAGIC = b"EVLM"
VERSION = 1
_HEADER = struct.Struct("<4sBBHIHH")  # 16 bytes
HEADER_BYTES = _HEADER.size


def bits_per_label(chunks: int) -> int:
    """Bits needed to store a label in ``[0, chunks)``: ``max(1, ceil(log2(chunks)))``."""
    if chunks < 1:
        raise ValueError(f"chunks must be >= 1, got {chunks}")
    return max(1, math.ceil(math.log2(chunks)))


@dataclass
class LabelMap:
    """Decoded label map.

    Attributes:
        labels: (T, rows, cols) uint8, chunk index per patch (0 = hardest).
        chunks: number of chunks k.
        bits_per_frame: rows * cols * bits_per_label (payload bits per frame, without padding).
    """

    labels: np.ndarray
    chunks: int
    bits_per_frame: int

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of the patch grid."""
        return int(self.labels.shape[1]), int(self.labels.shape[2])

    @property
    def frames(self) -> int:
        """Number of frames T."""
        return int(self.labels.shape[0])


def encode_label_map(labels: np.ndarray, chunks: int) -> bytes:
    """Encode (T, rows, cols) integer labels in ``[0, chunks)`` to the bytes of the file format above."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must be (T, rows, cols), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= chunks):
        raise ValueError(f"labels must lie in [0, {chunks}), got [{labels.min()}, {labels.max()}]")
    if chunks > 256:
        raise ValueError("at most 256 chunks are supported (labels are uint8)")
    t, rows, cols = labels.shape
    b = bits_per_label(chunks)
    flat = labels.reshape(t, rows * cols).astype(np.uint8)
    shifts = np.arange(b - 1, -1, -1, dtype=np.uint8)
    bits = (flat[:, :, None] >> shifts) & 1  # (T, N, b), MSB first
    packed = np.packbits(bits.reshape(t, rows * cols * b).astype(np.uint8), axis=1)
    header = _HEADER.pack(MAGIC, VERSION, b, chunks, t, rows, cols)
    return header + packed.tobytes()


def decode_label_map(data: bytes, source: str = "<bytes>") -> LabelMap:
    """Decode bytes written by :func:`encode_label_map`; malformed input raises :class:`UserError`."""
    if len(data) < HEADER_BYTES:
        raise UserError("label map is truncated (no header)", source)
    magic, version, b, chunks, t, rows, cols = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise UserError("not a label map (bad magic bytes)", source)
    if version != VERSION:
        raise UserError(f"unsupported label map version {version}", source)
    if chunks < 1 or b != bits_per_label(chunks):
        raise UserError(f"corrupt label map header (chunks={chunks}, bits={b})", source)
    n_bits = rows * cols * b
    per_frame = (n_bits + 7) // 8
    expected = HEADER_BYTES + t * per_frame
    if len(data) != expected:
        raise UserError(f"label map has {len(data)} bytes, header implies {expected}", source)
    payload = np.frombuffer(data, dtype=np.uint8, offset=HEADER_BYTES).reshape(t, per_frame)
    bits = np.unpackbits(payload, axis=1, count=n_bits).reshape(t, rows * cols, b)
    weights = (1 << np.arange(b - 1, -1, -1)).astype(np.uint16)
    labels = (bits.astype(np.uint16) * weights).sum(axis=2).astype(np.uint8).reshape(t, rows, cols)
    if labels.size and labels.max() >= chunks:
        raise UserError(f"label map holds label {labels.max()} >= chunks {chunks}", source)
    return LabelMap(labels=labels, chunks=int(chunks), bits_per_frame=int(n_bits))


def write_label_map(path: str | os.PathLike[str], labels: np.ndarray, chunks: int) -> int:
    """Write (T, rows, cols) uint8 labels to ``path`` atomically; returns bits per frame."""
    data = encode_label_map(labels, chunks)
    write_bytes_atomic(path, data)
    t, rows, cols = np.asarray(labels).shape
    return rows * cols * bits_per_label(chunks)


def read_label_map(path: str | os.PathLike[str]) -> LabelMap:
    """Read a label map file written by :func:`write_label_map`."""
    p = require_file(path, "label map")
    return decode_label_map(Path(p).read_bytes(), str(p))
