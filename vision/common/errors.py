"""User-facing error convention.

A mistake the user can fix (missing file, wrong layout, bad value) raises :class:`UserError`. The CLI
prints it as one line naming the file and the problem and exits with code 2; ``--debug`` shows the
traceback instead. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

USER_ERROR_EXIT_CODE = 2


class UserError(Exception):
    """An error caused by user input, reported as one line without a traceback.

    Args:
        message: what is wrong, phrased for the user (no trailing period needed).
        path: the file or folder concerned, if any; it is printed first.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.message = message
        self.path = None if path is None else Path(path)
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message as printed by the CLI: ``<path>: <message>`` or just ``<message>``."""
        text = " ".join(self.message.split())
        return f"{self.path}: {text}" if self.path is not None else text


def require_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise :class:`UserError` if it is not an existing file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} does not exist", p)
    if not p.is_file():
        raise UserError(f"{what} is not a file", p)
    return p


def require_dir(path: str | os.PathLike[str], what: str = "folder") -> Path:
    """Return ``path`` as a Path, or raise :class:`UserError` if it is not an existing folder."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} does not exist", p)
    if not p.is_dir():
        raise UserError(f"{what} is not a folder", p)
    return p


def read_json(path: str | os.PathLike[str], what: str = "JSON file") -> Any:
    """Parse the JSON file ``path``; a missing file or malformed/undecodable JSON is a :class:`UserError`
    naming the file and ``what`` it should have been."""
    p = require_file(path, what)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{what} is not valid JSON ({err})", p) from err


def run_with_error_convention(func: Callable[[], int | None], debug: bool) -> int:
    """Run ``func`` and map failures onto exit codes.

    Returns ``func``'s exit code (``None`` -> 0). A :class:`UserError` prints ``error: <one line>`` on
    stderr and returns 2 (with ``debug`` the traceback is printed as well). ``KeyboardInterrupt``
    returns 130. Other exceptions propagate: they are bugs and deserve their traceback.
    """
    try:
        code = func()
    except UserError as err:
        if debug:
            traceback.print_exc()
        print(f"error: {err.one_line()}", file=sys.stderr)
        return USER_ERROR_EXIT_CODE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if code is None else int(code)
