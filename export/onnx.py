"""ONNX export with a pinned exporter path and opset per model family, single-file output and a full check.

Why pin: ``torch.onnx.export`` has two exporters (TorchDynamo/``torch.export`` based, ``dynamo=True``, and
the TorchScript tracer, ``dynamo=False``) that emit different graphs for the same module, and the opset
decides which ops are available (e.g. ``LayerNormalization`` needs 17). Leaving either to the default
would make the shipped files change with the torch version, so every family names both here with the
reason (see :data:`EXPORTERS`).

Every export is static-shaped (no ``dynamic_axes``/``dynamic_shapes``): NPU compilers (QNN, NNAPI,
Core ML's Neural Engine) compile one graph per shape, and a dynamic dimension either fails compilation or
sends the layer to the CPU. Variable-size work is cut into fixed-size pieces outside the graph instead
(:mod:`export.tiling` for SR frames, a fixed point count for SAM's decoder).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vision.common.atomic import check_can_write
from vision.common.errors import UserError

if TYPE_CHECKING:  # heavy imports stay inside the functions
    import onnx
    import torch

#: protobuf's hard limit for one serialised message; larger models keep their weights in a side file.
PROTOBUF_LIMIT_BYTES = 2**31 - 1


@dataclass(frozen=True)
class ExporterChoice:
    """Exporter path and opset for one model family, with the reason they were chosen."""

    dynamo: bool
    opset: int
    reason: str


EXPORTERS: dict[str, ExporterChoice] = {
    "sr": ExporterChoice(
        dynamo=True,
        opset=18,
        reason=(
            "torch.export + constant folding gives a purely static graph (Conv/Relu/Add/DepthToSpace); the "
            "TorchScript tracer keeps shape arithmetic (ConstantOfShape/Equal/Where around the residual "
            "Expand) that NPU compilers reject or run on the CPU. Opset 18 is the dynamo exporter's native "
            "opset (no version conversion pass)."
        ),
    ),
    "embedder": ExporterChoice(
        dynamo=True,
        opset=18,
        reason=(
            "timm backbones (ConvNets and ViTs) go through torch.export cleanly; with static shapes the "
            "flatten/reshape sizes are folded to constants, leaving no Shape/Gather chains for the NPU. "
            "Opset 18 as for SR."
        ),
    ),
    "sam_encoder": ExporterChoice(
        dynamo=True,
        opset=18,
        reason=(
            "the ViT image encoder (windowed attention with relative positions) exports cleanly through "
            "torch.export at the fixed 1x3x1024x1024 input, and the dynamo path writes external data "
            "natively for ViT-H (2.5 GB > protobuf's 2 GB limit). Opset 18 as for SR."
        ),
    ),
    "sam_decoder": ExporterChoice(
        dynamo=False,
        opset=17,
        reason=(
            "the dynamo exporter cannot export SAM's prompt decoder with a variable point count, and the "
            "TorchScript path is the one segment_anything's SamOnnxModel was written and validated for; "
            "we fix the point count anyway (static shapes). Opset 17 is the first with "
            "LayerNormalization, used by the decoder's transformer."
        ),
    ),
}


def exporter_for(family: str) -> ExporterChoice:
    """The pinned :class:`ExporterChoice` of ``family`` (one of :data:`EXPORTERS`)."""
    if family not in EXPORTERS:
        raise UserError(f"no ONNX export is defined for model family {family!r}; supported: {', '.join(EXPORTERS)}")
    return EXPORTERS[family]


def export_onnx(
    model: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    path: str | os.PathLike[str],
    family: str,
    input_names: list[str],
    output_names: list[str],
    overwrite: bool = False,
) -> Path:
    """Export ``model`` (in eval mode) at the static shapes of ``example_inputs`` to ONNX at ``path``.

    The exporter path and opset come from :data:`EXPORTERS` for ``family``. The result is one
    self-contained ``.onnx`` file whenever it fits protobuf's 2 GB limit (the dynamo exporter's
    ``.onnx.data`` side file is folded in); otherwise the weights go to ``<name>.onnx.data`` beside it.
    The file passes ``onnx.checker.check_model(full_check=True)`` (which also runs strict shape
    inference) before it is published atomically.

    Returns:
        ``path`` as a Path.
    """
    import onnx
    import torch

    choice = exporter_for(family)
    target = check_can_write(path, overwrite)
    for noisy in ("onnxscript", "onnx_ir", "torch.onnx", "torch.export", "torch._dynamo", "torch.fx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # the exporters log every pass at INFO
    model = model.eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=target.parent) as tmp_dir:
        raw = Path(tmp_dir) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            kwargs: dict[str, Any] = {"verbose": False} if choice.dynamo else {"do_constant_folding": True}
            torch.onnx.export(
                model,
                tuple(example_inputs),
                str(raw),
                dynamo=choice.dynamo,
                opset_version=choice.opset,
                input_names=input_names,
                output_names=output_names,
                **kwargs,
            )
        proto = onnx.load(str(raw))  # pulls any external data in
        final = Path(tmp_dir) / target.name
        save_model_file(proto, final)
        check_onnx(final)
        _publish(final, target)
    return target


def save_model_file(proto: onnx.ModelProto, path: Path) -> None:
    """Save ``proto`` as a single file, or with ``<name>.data`` external weights when it is over 2 GB."""
    import onnx

    if proto.ByteSize() < PROTOBUF_LIMIT_BYTES:
        onnx.save(proto, str(path))
    else:
        onnx.save(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=path.name + ".data")


def _publish(built: Path, target: Path) -> None:
    """Move ``built`` (and its side file, if any) onto ``target`` with renames in the same folder."""
    side = built.with_name(built.name + ".data")
    if side.exists():
        os.replace(side, target.with_name(target.name + ".data"))
    os.replace(built, target)


def check_onnx(path: str | os.PathLike[str]) -> None:
    """Run ``onnx.checker.check_model(full_check=True)``; failures become one-line :class:`UserError` s."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"ONNX model fails onnx.checker: {first}", path) from err


def save_checked(proto: onnx.ModelProto, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Save a (rewritten) model as a checked single file at ``path`` atomically."""
    target = check_can_write(path, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".save-", dir=target.parent) as tmp_dir:
        final = Path(tmp_dir) / target.name
        save_model_file(proto, final)
        check_onnx(final)
        _publish(final, target)
    return target


def op_counts(model: onnx.ModelProto | str | os.PathLike[str]) -> dict[str, int]:
    """Number of nodes of each op type in the main graph (e.g. ``{"Conv": 3, "DepthToSpace": 1}``)."""
    import onnx

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)
    return dict(sorted(Counter(node.op_type for node in proto.graph.node).items()))


def io_shapes(model: onnx.ModelProto | str | os.PathLike[str]) -> dict[str, dict[str, list[int | str]]]:
    """``{"inputs": {name: shape}, "outputs": {name: shape}}`` of a model (symbolic dims as strings)."""
    import onnx

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)

    def shape(value: onnx.ValueInfoProto) -> list[int | str]:
        return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]

    init = {i.name for i in proto.graph.initializer}
    return {
        "inputs": {v.name: shape(v) for v in proto.graph.input if v.name not in init},
        "outputs": {v.name: shape(v) for v in proto.graph.output},
    }


def copy_model_file(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy an exported model (and its ``.data`` side file, if any) to ``dst``."""
    src_p, dst_p = Path(src), Path(dst)
    shutil.copyfile(src_p, dst_p)
    side = src_p.with_name(src_p.name + ".data")
    if side.exists():
        shutil.copyfile(side, dst_p.with_name(dst_p.name + ".data"))
    return dst_p
