"""Core ML export: mlprogram ``.mlpackage`` at FP16, fixed shapes, iOS 16+, optional weight compression.

Conversion path: ``torch.export`` (an ``ExportedProgram``, decomposed to core ATen ops) into
``coremltools.convert``. We pin this rather than ``torch.jit.trace`` because the TorchScript frontend of
coremltools 9 cannot convert shape-derived Python ints (``int(x.shape[i])``, used by ESPCN's residual
repeat) while the torch.export frontend sees them as constants at the fixed input shape.

Fixed shapes only (one ``TensorType`` shape per input): the Neural Engine compiles a static graph, and
flexible shapes push models to the GPU/CPU. ``minimum_deployment_target`` defaults to iOS 16, the first
with FP16 mlprogram I/O and the ``constexpr_*`` ops that weight compression relies on.

Core ML cannot run predictions on Linux; :func:`validate_mlpackage` checks the spec instead (inputs,
outputs, shapes, op-type counts, ops known to leave the Neural Engine), and ``export/macos_parity.py`` is
the script a Mac user runs to compare Core ML against ONNX Runtime outputs.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vision.common.atomic import check_can_write
from vision.common.errors import UserError

if TYPE_CHECKING:
    import torch

COMPRESSIONS = ("none", "int8", "palettize8")
DEPLOYMENT_TARGETS = ("iOS16", "iOS17", "iOS18")

#: MIL ops that (as observed on A14-A17 / M1-M3, coremltools and Apple ANE notes) run off the Neural
#: Engine and split the graph: gathers/scatters with dynamic indices, control flow, sorting, recurrent
#: cells, einsum and non-maximum suppression. A heuristic; the Xcode performance report is the judge.
ANE_UNFRIENDLY_OPS = frozenset(
    {
        "gather",
        "gather_nd",
        "gather_along_axis",
        "scatter",
        "scatter_nd",
        "scatter_along_axis",
        "while_loop",
        "cond",
        "non_zero",
        "non_maximum_suppression",
        "topk",
        "argsort",
        "cumsum",
        "einsum",
        "lstm",
        "gru",
        "rnn",
        "random_uniform",
        "random_normal",
        "random_bernoulli",
        "random_categorical",
        "band_part",
    }
)


def _quiet_coremltools() -> None:
    """coremltools logs a warning per missing macOS proxy and untested torch version; keep the CLI clean."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)


def convert_to_mlpackage(
    model: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    path: str | os.PathLike[str],
    input_names: list[str],
    output_names: list[str],
    compression: str = "none",
    deployment_target: str = "iOS16",
    compress_min_elements: int = 2048,
    overwrite: bool = False,
) -> Path:
    """Convert ``model`` at the shapes of ``example_inputs`` to an FP16 mlprogram ``.mlpackage`` folder.

    Args:
        compression: ``"none"``, ``"int8"`` (8-bit linear symmetric weights,
            ``coremltools.optimize.coreml.linear_quantize_weights``) or ``"palettize8"`` (8-bit uniform
            look-up-table palettisation; k-means mode would need scikit-learn).
        deployment_target: ``"iOS16"`` (minimum), ``"iOS17"`` or ``"iOS18"``.
        compress_min_elements: weights with fewer elements stay FP16 (coremltools' default 2048: tiny
            tensors gain nothing from compression).

    Returns:
        ``path``; the package is built in a temporary folder and renamed into place.
    """
    import torch

    _quiet_coremltools()
    import coremltools as ct

    if compression not in COMPRESSIONS:
        raise UserError(f"unknown Core ML compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}")
    if deployment_target not in DEPLOYMENT_TARGETS:
        raise UserError(f"deployment target must be one of {', '.join(DEPLOYMENT_TARGETS)}, got {deployment_target!r}")
    target = check_can_write(path, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    example_inputs = tuple(t.contiguous() for t in example_inputs)  # Core ML needs the default dim order
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, tuple(example_inputs)).run_decompositions({})
        mlmodel = ct.convert(
            program,
            inputs=[ct.TensorType(name=n, shape=tuple(t.shape)) for n, t in zip(input_names, example_inputs, strict=True)],
            outputs=[ct.TensorType(name=n) for n in output_names],
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16,
            minimum_deployment_target=getattr(ct.target, deployment_target),
        )
        mlmodel = compress_weights(mlmodel, compression, compress_min_elements)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        built = tmp / target.name
        mlmodel.save(str(built))
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(built, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def compress_weights(mlmodel: Any, compression: str, min_elements: int = 2048) -> Any:
    """Apply ``coremltools.optimize.coreml`` weight compression (``"none"`` returns ``mlmodel``)."""
    if compression == "none":
        return mlmodel
    from coremltools.optimize.coreml import (
        OpLinearQuantizerConfig,
        OpPalettizerConfig,
        OptimizationConfig,
        linear_quantize_weights,
        palettize_weights,
    )

    if compression == "int8":
        config = OptimizationConfig(global_config=OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", weight_threshold=min_elements))
        return linear_quantize_weights(mlmodel, config)
    config = OptimizationConfig(global_config=OpPalettizerConfig(nbits=8, mode="uniform", weight_threshold=min_elements))
    return palettize_weights(mlmodel, config)


@dataclass
class CoreMLSpecReport:
    """What :func:`validate_mlpackage` found in a package's spec.

    Attributes:
        spec_version: Core ML specification version (7 = iOS 16).
        inputs / outputs: name -> shape (fixed) of each multi-array feature.
        input_dtypes: name -> array data type name (FLOAT16 / FLOAT32 ...).
        op_counts: MIL op type -> count over the main function.
        ane_unfriendly: op types present that usually leave the Neural Engine.
        compressed_weights: number of ``constexpr_*`` (compressed-weight) ops.
        problems: contract violations (missing/extra features, wrong shapes, flexible shapes).
    """

    spec_version: int
    inputs: dict[str, list[int]]
    outputs: dict[str, list[int]]
    input_dtypes: dict[str, str]
    op_counts: dict[str, int]
    ane_unfriendly: list[str]
    compressed_weights: int
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def validate_mlpackage(
    path: str | os.PathLike[str],
    expected_inputs: dict[str, tuple[int, ...]] | None = None,
    expected_outputs: dict[str, tuple[int, ...]] | None = None,
    raise_on_problem: bool = True,
) -> CoreMLSpecReport:
    """Validate a ``.mlpackage`` without predicting (works on Linux).

    Checks it is an mlprogram, every feature has a fixed shape, and the inputs/outputs match
    ``expected_*`` (name -> shape) when given. Counts op types and flags Neural-Engine-unfriendly ops
    (:data:`ANE_UNFRIENDLY_OPS`).

    Raises:
        UserError: on a contract violation, when ``raise_on_problem``.
    """
    _quiet_coremltools()
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2

    p = Path(path)
    if not (p / "Manifest.json").is_file():
        raise UserError("not a Core ML .mlpackage (no Manifest.json)", p)
    spec = ct.utils.load_spec(str(p))
    problems: list[str] = []
    if spec.WhichOneof("Type") != "mlProgram":
        problems.append(f"model type is {spec.WhichOneof('Type')}, expected mlProgram")

    def features(descs: Any) -> tuple[dict[str, list[int]], dict[str, str]]:
        shapes, dtypes = {}, {}
        for d in descs:
            arr = d.type.multiArrayType
            shapes[d.name] = [int(s) for s in arr.shape]
            dtypes[d.name] = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(arr.dataType)
            if arr.WhichOneof("ShapeFlexibility") is not None:
                problems.append(f"feature {d.name!r} has a flexible shape; the Neural Engine needs fixed shapes")
        return shapes, dtypes

    inputs, input_dtypes = features(spec.description.input)
    outputs, _ = features(spec.description.output)
    for kind, expected, found in (("input", expected_inputs, inputs), ("output", expected_outputs, outputs)):
        if expected is None:
            continue
        for name, shape in expected.items():
            if name not in found:
                problems.append(f"missing {kind} {name!r} (has {sorted(found)})")
            elif list(shape) != found[name]:
                problems.append(f"{kind} {name!r} has shape {found[name]}, expected {list(shape)}")
        extra = sorted(set(found) - set(expected))
        if extra:
            problems.append(f"unexpected {kind}s {extra}")
    counts: Counter[str] = Counter()
    if spec.WhichOneof("Type") == "mlProgram":
        for function in spec.mlProgram.functions.values():
            block = function.block_specializations[function.opset]
            _count_ops(block, counts)
    report = CoreMLSpecReport(
        spec_version=int(spec.specificationVersion),
        inputs=inputs,
        outputs=outputs,
        input_dtypes=input_dtypes,
        op_counts=dict(sorted(counts.items())),
        ane_unfriendly=sorted(op for op in counts if op in ANE_UNFRIENDLY_OPS),
        compressed_weights=sum(n for op, n in counts.items() if op.startswith("constexpr_")),
        problems=problems,
    )
    if problems and raise_on_problem:
        raise UserError(f"Core ML package fails validation: {problems[0]}", p)
    return report


def _count_ops(block: Any, counts: Counter[str]) -> None:
    """Count op types in a MIL block, recursing into nested blocks (control flow)."""
    for op in block.operations:
        counts[op.type] += 1
        for nested in op.blocks:
            _count_ops(nested, counts)
