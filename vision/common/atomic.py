"""Atomic writes: write to a temporary name in the same folder, then rename over the target.

Readers never see a half-written file, and an interrupted run leaves the previous file intact. Nothing
a user had is overwritten unless ``overwrite=True``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vision.common.errors import UserError


def check_can_write(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Raise :class:`UserError` if ``path`` exists and ``overwrite`` is false; return it as a Path."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise UserError("already exists; pass --overwrite to replace it", p)
    return p


@contextmanager
def atomic_path(path: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The caller writes the whole file to the yielded path (any library that takes a filename works).
    On an exception the temporary file is removed and ``path`` is untouched.
    """
    target = check_can_write(path, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, overwrite: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite)


def _json_default(value: Any) -> Any:
    """Convert numpy scalars/arrays, Paths and tuples to JSON-native values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _finite_or_string(value: Any) -> Any:
    """Replace non-finite floats by the strings "inf", "-inf", "nan" (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite_or_string(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_string(v) for v in value]
    return value


def write_json_atomic(path: str | os.PathLike[str], data: Any, overwrite: bool = True) -> Path:
    """Write ``data`` as indented JSON atomically. Infinite PSNRs and NaNs become strings."""
    normalised = json.loads(json.dumps(data, default=_json_default))
    text = json.dumps(_finite_or_string(normalised), indent=2, sort_keys=False, allow_nan=False)
    return write_text_atomic(path, text + "\n", overwrite)


@contextmanager
def atomic_dir(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` as a whole.

    Used for run folders and bundles so that a failed run leaves nothing half-written. An existing
    ``path`` is refused unless ``overwrite`` (then it is removed only after the new folder is complete).
    """
    target = check_can_write(path, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            backup = target.with_name(f".{target.name}.old")
            if backup.exists():
                shutil.rmtree(backup)
            os.replace(target, backup)
            os.replace(tmp, target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
