"""ONNX Runtime sessions with a fixed thread count (torch-free: the bundle player uses this module).

On a phone or robot the app owns the thread budget, so sessions are created with explicit intra-op
threads (default 2, the size of this project's reference machine) and sequential execution.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from vision.common.errors import UserError, require_file

if TYPE_CHECKING:
    import onnxruntime as ort


def make_session(path: str | os.PathLike[str], threads: int = 2) -> ort.InferenceSession:
    """A CPU ``InferenceSession`` for the model at ``path`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    p = require_file(path, "ONNX model")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # no busy-waiting between runs: on a phone it burns battery, on a shared CPU it steals other work's time
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(p), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for unreadable models
        raise UserError(f"onnxruntime cannot load the model: {str(err).splitlines()[0]}", p) from err


def run_session(session: ort.InferenceSession, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run ``session`` on named numpy inputs and return all outputs in graph order."""
    return list(session.run(None, inputs))


def input_shapes(session: ort.InferenceSession) -> dict[str, list[int | str]]:
    """Declared input shapes of ``session`` (symbolic dims as strings)."""
    return {i.name: list(i.shape) for i in session.get_inputs()}
