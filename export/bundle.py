"""Mobile SR bundle: a videosr run's chunk models as fixed-tile ONNX (+ INT8, + Core ML) with a manifest.

Layout written by :func:`build_sr_bundle` (atomically: built in a temporary folder, renamed at the end)::

    BUNDLE/manifest.json
    BUNDLE/labels.bin                          chunk label map (videosr.metadata format)
    BUNDLE/export_config.yaml                  the resolved SRBundleOptions (loadable with --config)
    BUNDLE/models/<method>_<i>_fp32.onnx       DCR PixelShuffle, static (1, 3, th, tw) input "lr"
    BUNDLE/models/<method>_<i>_int8.onnx       with --int8 (QDQ, calibrated on the run's LR tiles)
    BUNDLE/models/<method>_<i>_fp16.mlpackage  with --formats coreml

``manifest.json``::

    {"format": "edgevision-sr-bundle", "version": 1, "arch", "scale", "tile": [th, tw],
     "lr_size": [h, w] (the run's LR frame size: the label map and tile plan are for it), "overlap",
     "chunks", "grid": [rows, cols], "method": main method, "methods": [...],
     "models": [{"method", "chunk", "onnx", "coreml", "sha256", "bytes", "precision"}, ...],
     "label_map", "config": "export_config.yaml", "psnr": {method: expected PSNR from the run's report}, "parity": [...],
     "quantization": {...}, "coreml": {...}, "files": {relative path: {"sha256", "bytes"}}}

``models[i].sha256``/``bytes`` describe its ONNX file; ``files`` lists every file of the bundle (Core ML
packages are folders: each file inside is listed), and the player refuses a bundle whose files differ.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from export.parity import FP32_ATOL, INT8_MAX_PSNR_DROP_DB, INT8_MIN_PSNR_VS_FP32_DB
from export.player import BUNDLE_FORMAT, MANIFEST, iter_frames
from vision.common.atomic import atomic_dir, write_json_atomic
from vision.common.config import save_config
from vision.common.errors import UserError
from vision.common.progress import get_logger, track
from vision.common.runinfo import package_versions, sha256_file

log = get_logger(__name__)

FORMATS = ("onnx", "coreml")


QuantPresetName = Literal["cpu", "qnn_u8", "qnn_u16"]
CalibrationMethodName = Literal["minmax", "percentile", "entropy"]
CoreMLCompression = Literal["none", "int8", "palettize8"]
CONFIG_FILE = "export_config.yaml"


@dataclass
class SRBundleOptions:
    """Options of :func:`build_sr_bundle`; also the typed YAML config of ``edgevision export sr --config``
    (``configs/export/sr-bundle.yaml`` lists every key with its default; flags override the file). The
    resolved options are saved in the bundle as ``export_config.yaml``.

    Attributes:
        formats: subset of ``("onnx", "coreml")``; ONNX is always written (the player needs it).
        methods: run methods to include; the first is the one the player plays by default.
        tile: LR tile (th, tw); None = :func:`export.tiling.choose_tile` for the video's frame size with
            sides <= ``max_tile_side`` (least wasted overlap; the bundle serves one video, so its tile can
            fit that video). 128 keeps a x4 output tile at 512x512 (3 MB of FP32 per 3-channel map), small
            enough for NPU on-chip memory, large enough that the overlap costs little.
        overlap: LR context pixels per inner tile side; None = the models' receptive-field radius
            (:func:`onnx_receptive_radius`; then tiling is seamless by construction).
        int8: also write INT8 QDQ models (calibrated on the run's own LR tiles).
        quant_preset / per_channel / calibrate_method / calibration_tiles: see :mod:`export.quantize`.
        validation_tiles: LR tiles per model on which the INT8 cost is measured.
        max_psnr_drop_db: INT8 models losing more PSNR vs HR than this fail the export (gate
            ``psnr_drop_vs_hr``, used when the run kept HR frames).
        min_int8_psnr_vs_fp32_db: without HR frames, INT8 models whose output is further than this
            PSNR from the FP32 model's output fail the export (gate ``psnr_int8_vs_fp32_floor``; see
            :data:`export.parity.INT8_MIN_PSNR_VS_FP32_DB` for why 40 dB).
        coreml_compression: ``"none"``, ``"int8"`` or ``"palettize8"`` (see :mod:`export.coreml`).
        parity_atol: FP32 ONNX vs PyTorch max abs error allowed.
        parity_tiles: LR tiles per model for that check, spread evenly over the model's frames (STDO:
            centred on the chunk's patches where the frame has one).
        threads: onnxruntime intra-op threads of the checks.
        seed: RNG seed for calibration/validation tile sampling.
    """

    formats: tuple[Literal["onnx", "coreml"], ...] = ("onnx",)
    methods: tuple[str, ...] = ("stdo",)
    tile: tuple[int, int] | None = None
    max_tile_side: int = 128
    overlap: int | None = None
    int8: bool = False
    quant_preset: QuantPresetName = "cpu"
    per_channel: bool = True
    calibrate_method: CalibrationMethodName = "minmax"
    calibration_tiles: int = 16
    validation_tiles: int = 8
    max_psnr_drop_db: float = INT8_MAX_PSNR_DROP_DB
    min_int8_psnr_vs_fp32_db: float = INT8_MIN_PSNR_VS_FP32_DB
    coreml_compression: CoreMLCompression = "none"
    parity_atol: float = FP32_ATOL
    parity_tiles: int = 8
    threads: int = 2
    seed: int = 0


def onnx_receptive_radius(model: Any) -> int:
    """Receptive-field radius (LR pixels) of an SR ONNX graph: the max over all paths, from the graph itself.

    Walks the (topologically sorted) nodes tracking, per tensor, the radius in LR pixels and the spatial
    resolution relative to the LR input: a stride-1 ``Conv``/pool adds ``dilation * (k - 1) / 2`` pixels at
    its resolution (``1/resolution`` LR pixels), ``DepthToSpace`` and ``Resize`` multiply the resolution
    (``Resize`` adds up to 2 input pixels of interpolation support), everything else (element-wise ops,
    padding, channel gathers and reshapes) takes the max over its inputs. Works for any wiring (skips,
    fixed bicubic branches) without knowing the architecture.
    """
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consts = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    radius: dict[str, float] = {}
    resolution: dict[str, float] = {}
    for value in graph.input:
        if value.name not in inits:
            radius[value.name], resolution[value.name] = 0.0, 1.0

    def const_array(name: str) -> np.ndarray | None:
        if name in inits:
            return numpy_helper.to_array(inits[name])
        if name in consts:
            return numpy_helper.to_array(consts[name].attribute[0].t)
        return None

    for node in graph.node:
        known = [i for i in node.input if i in radius]
        if not known:
            continue
        r = max(radius[i] for i in known)
        res = max(resolution[i] for i in known)
        attrs = {a.name: a for a in node.attribute}
        if node.op_type in ("Conv", "ConvTranspose", "MaxPool", "AveragePool"):
            if "strides" in attrs and any(v != 1 for v in attrs["strides"].ints):
                raise UserError(f"strided {node.op_type} {node.name!r}: SR tiling needs stride-1 layers")
            if "kernel_shape" in attrs:
                kernel = list(attrs["kernel_shape"].ints)
            else:
                weight = const_array(node.input[1])
                kernel = list(weight.shape[2:]) if weight is not None else [1, 1]
            dil = list(attrs["dilations"].ints) if "dilations" in attrs else [1] * len(kernel)
            r += max(d * (k - 1) / 2 for k, d in zip(kernel, dil, strict=True)) / res
        elif node.op_type == "DepthToSpace":
            res *= attrs["blocksize"].i
        elif node.op_type == "Resize":
            scales = const_array(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if scales is None or scales.size < 4:
                raise UserError(f"Resize {node.name!r} without constant scales: cannot bound its receptive field")
            r += 2.0 / res  # cubic support; linear/nearest need less
            res *= float(scales[-1])
        for out in node.output:
            radius[out], resolution[out] = r, res
    outs = [o.name for o in graph.output if o.name in radius]
    if not outs:
        raise UserError("cannot trace the SR graph from its input to its output")
    return int(math.ceil(max(radius[o] for o in outs) - 1e-9))


def _method_files(run: Any, methods: tuple[str, ...]) -> dict[str, int]:
    counts = {}
    for method in methods:
        if method not in run.methods:
            known = ", ".join(sorted(run.methods)) or "none"
            raise UserError(f"run has no models for method '{method}' (has: {known})", run.root / "models" / "models.json")
        files = run.methods[method]
        if not files:
            raise UserError(f"method '{method}' lists no model files", run.root / "models" / "models.json")
        for f in files:
            if not Path(f).is_file():
                raise UserError(f"model file of method '{method}' is missing", f)
        if method == "stdo" and len(files) != run.chunks:
            raise UserError(
                f"method 'stdo' has {len(files)} models but the run has {run.chunks} chunks",
                run.root / "models" / "models.json",
            )
        counts[method] = len(files)
    return counts


def expected_psnr(report: dict[str, Any], method: str) -> float | None:
    """The PSNR (dB, RGB) the run reported for ``method`` (``report["methods"][method]["psnr_rgb"]``)."""
    for key in ("methods", "psnr"):
        block = report.get(key)
        if isinstance(block, dict) and method in block:
            value = block[method]
            if isinstance(value, dict):
                value = value.get("psnr_rgb", value.get("psnr", value.get("psnr_db")))
            if isinstance(value, int | float):
                return float(value)
    return None


def _tree_files(root: Path) -> dict[str, dict[str, Any]]:
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel == MANIFEST:
            continue
        files[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return files


def _read_frames(folder: Path | None, limit: int | None = None) -> list[np.ndarray]:
    if folder is None:
        return []
    frames = []
    for i, frame in enumerate(iter_frames(folder)):
        if limit is not None and i >= limit:
            break
        frames.append(frame)
    return frames


def build_sr_bundle(
    run_dir: str | os.PathLike[str], out: str | os.PathLike[str], options: SRBundleOptions, overwrite: bool = False
) -> dict[str, Any]:
    """Export a videosr run folder's models into a mobile SR bundle at ``out``; returns the manifest.

    Every FP32 model passes a PyTorch vs ONNX Runtime parity check on LR tiles of the video
    (max abs error <= ``options.parity_atol``); INT8 models must keep their PSNR drop vs HR within
    ``options.max_psnr_drop_db`` when the run kept HR frames, otherwise their PSNR vs the FP32 output
    must reach ``options.min_int8_psnr_vs_fp32_db`` (the gate used is recorded per model as ``gate``).
    Any failure raises :class:`UserError` and leaves nothing at ``out``.
    """
    import onnx
    import torch

    from export.coreml import convert_to_mlpackage, validate_mlpackage
    from export.onnx import export_onnx, save_checked
    from export.parity import check_parity_many
    from export.pixelshuffle import convert_depth_to_space_dcr, depth_to_space_modes
    from export.quantize import quantize_onnx, sr_calibration_tiles, sr_tile_origins, sr_tiles_at
    from export.runtime import make_session
    from export.tiling import choose_tile
    from videosr.metadata import read_label_map
    from videosr.run_folder import load_run, load_sr_model

    bad = [f for f in options.formats if f not in FORMATS]
    if bad:
        raise UserError(f"unsupported export format(s) {bad} for SR models; choose from {', '.join(FORMATS)}")
    repeated = sorted({m for m in options.methods if options.methods.count(m) > 1})
    if repeated or not options.methods:
        raise UserError(f"--methods must name each method once (repeated: {', '.join(repeated) or 'none given'})")
    if options.overlap is not None and options.overlap < 0:
        raise UserError(f"overlap must be 0 or more LR pixels, got {options.overlap}")
    if options.max_tile_side < 1 or (options.tile is not None and min(options.tile) < 1):
        raise UserError("tile sides must be positive")
    if options.parity_tiles < 1:
        raise UserError(f"parity needs at least one tile (got {options.parity_tiles})")
    if options.int8 and (options.calibration_tiles < 1 or options.validation_tiles < 1):
        raise UserError(
            f"INT8 export needs at least one calibration and one validation tile "
            f"(got {options.calibration_tiles} and {options.validation_tiles})"
        )
    run = load_run(run_dir)
    counts = _method_files(run, options.methods)
    label_map = read_label_map(run.label_map_path)
    lr_frames = _read_frames(run.lr_dir)
    if not lr_frames:
        raise UserError("run folder has no LR frames", run.lr_dir)
    hr_frames = _HRFrames(run.hr_frames()[: len(lr_frames)])
    rng_seed = options.seed
    radius = 0
    overlap = 0 if options.overlap is None else int(options.overlap)
    if options.tile is None:  # probe the receptive field on a small export, then fit the tile to the frames
        probe = torch.from_numpy(sr_calibration_tiles(lr_frames, (32, 32), 1, rng_seed))
        with tempfile.TemporaryDirectory(prefix=".probe-") as probe_dir:
            probe_path = export_onnx(load_sr_model(run, options.methods[0], 0), (probe,), Path(probe_dir) / "p.onnx", "sr", ["lr"], ["hr"])
            probe_radius = onnx_receptive_radius(onnx.load(str(probe_path)))
        tile = choose_tile(lr_frames[0].shape[:2], probe_radius if options.overlap is None else overlap, options.max_tile_side)
    else:
        tile = (int(options.tile[0]), int(options.tile[1]))
    th, tw = tile
    example = torch.from_numpy(sr_calibration_tiles(lr_frames, (th, tw), 1, rng_seed))
    scale = run.scale
    parity: list[dict[str, Any]] = []
    quant: dict[str, Any] = {}
    coreml_reports: dict[str, Any] = {}
    entries: list[dict[str, Any]] = []
    jobs = [(m, i) for m in options.methods for i in range(counts[m])]
    with atomic_dir(out, overwrite) as tmp:
        models_dir = tmp / "models"
        models_dir.mkdir()
        for method, index in track(jobs, "exporting SR models"):
            model = load_sr_model(run, method, index).float()
            stem = f"{method}_{index}"
            raw = export_onnx(model, (example,), tmp / f".{stem}_raw.onnx", "sr", ["lr"], ["hr"])
            dcr, stats = convert_depth_to_space_dcr(onnx.load(str(raw)))
            raw.unlink()
            if any(mode != "DCR" for mode in depth_to_space_modes(dcr)):
                raise UserError(f"{stem}: DepthToSpace could not be converted to DCR order")
            fp32_path = save_checked(dcr, models_dir / f"{stem}_fp32.onnx")
            radius = max(radius, onnx_receptive_radius(dcr))  # all models of the bundle share one overlap
            overlap = radius if options.overlap is None else int(options.overlap)
            if th <= 2 * overlap or tw <= 2 * overlap:
                raise UserError(f"tile {th}x{tw} is too small for an overlap of {overlap} LR pixels (needs > 2*overlap)")
            sampling = _tile_sampling(method, index, counts[method], label_map.labels)
            parity_origins = _parity_origins(lr_frames, (th, tw), options.parity_tiles, rng_seed + 1, sampling)
            parity_tiles = torch.from_numpy(sr_tiles_at(lr_frames, parity_origins, (th, tw)))
            report = check_parity_many(
                model,
                fp32_path,
                [(tile_x[None],) for tile_x in parity_tiles],
                ["lr"],
                ["hr"],
                tolerance=options.parity_atol,
                image_outputs=(0,),
                name=f"{stem} fp32",
                threads=options.threads,
            )
            parity.append({**report.to_dict(), "origins": parity_origins.tolist(), "dcr": stats})
            coreml_rel = None
            if "coreml" in options.formats:
                pkg = convert_to_mlpackage(
                    model,
                    (example,),
                    models_dir / f"{stem}_fp16.mlpackage",
                    ["lr"],
                    ["hr"],
                    compression=options.coreml_compression,
                )
                spec = validate_mlpackage(pkg, {"lr": (1, 3, th, tw)}, {"hr": (1, 3, scale * th, scale * tw)})
                coreml_reports[stem] = spec.to_dict()
                coreml_rel = pkg.relative_to(tmp).as_posix()
            entries.append(_entry(tmp, method, index, fp32_path, coreml_rel, "fp32"))
            if options.int8:
                calib_origins = sr_tile_origins(lr_frames, (th, tw), options.calibration_tiles, rng_seed, **sampling)
                calib = sr_tiles_at(lr_frames, calib_origins, (th, tw))
                int8_path = quantize_onnx(
                    fp32_path,
                    models_dir / f"{stem}_int8.onnx",
                    calib,
                    "lr",
                    preset=options.quant_preset,
                    per_channel=options.per_channel,
                    calibrate_method=options.calibrate_method,
                )
                val_origins = sr_tile_origins(lr_frames, (th, tw), options.validation_tiles, rng_seed + 2, **sampling)
                cost = _int8_cost(
                    make_session(fp32_path, options.threads),
                    make_session(int8_path, options.threads),
                    lr_frames,
                    hr_frames,
                    val_origins,
                    (th, tw),
                    scale,
                )
                cost["calibration_origins"] = calib_origins.tolist()
                quant[stem] = _int8_gate(stem, cost, options)
                entries.append(_entry(tmp, method, index, int8_path, None, "int8"))
        if overlap < radius:
            log.warning("overlap %d < receptive-field radius %d: tile borders may differ slightly", overlap, radius)
        (tmp / "labels.bin").write_bytes(run.label_map_path.read_bytes())
        save_config(options, tmp / CONFIG_FILE)
        manifest = {
            "format": BUNDLE_FORMAT,
            "version": 1,
            "arch": run.arch,
            "arch_kwargs": run.arch_kwargs,
            "scale": scale,
            "tile": [th, tw],
            "lr_size": [int(lr_frames[0].shape[0]), int(lr_frames[0].shape[1])],
            "overlap": overlap,
            "receptive_radius": radius,
            "chunks": run.chunks,
            "grid": list(run.grid),
            "method": options.methods[0],
            "methods": list(options.methods),
            "input_name": "lr",
            "output_name": "hr",
            "input": "(1, 3, th, tw) float32 RGB in [0, 1]",
            "output": "(1, 3, s*th, s*tw) float32 RGB, clip to [0, 1]",
            "depth_to_space": "DCR",
            "models": entries,
            "label_map": "labels.bin",
            "config": CONFIG_FILE,
            "label_map_frames": label_map.frames,
            "psnr": {m: expected_psnr(run.report, m) for m in options.methods},
            "parity": parity,
            "quantization": {
                "preset": options.quant_preset,
                "per_channel": options.per_channel,
                "calibrate_method": options.calibrate_method,
                "calibration_tiles": options.calibration_tiles,
                "max_psnr_drop_db": options.max_psnr_drop_db,
                "min_int8_psnr_vs_fp32_db": options.min_int8_psnr_vs_fp32_db,
                "gate": "psnr_drop_vs_hr" if hr_frames else "psnr_int8_vs_fp32_floor",
                "cost": quant,
            }
            if options.int8
            else None,
            "coreml": {"compression": options.coreml_compression, "deployment_target": "iOS16", "spec": coreml_reports}
            if "coreml" in options.formats
            else None,
            "source_run": str(run.root),
            "versions": package_versions(("torch", "onnx", "onnxruntime", "coremltools", "numpy")),
            "files": _tree_files(tmp),
        }
        write_json_atomic(tmp / MANIFEST, manifest)
    return manifest


class _HRFrames:
    """HR frames read on demand (a long 720p run would not fit in memory at once), RGB uint8."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self._cache: dict[int, np.ndarray] = {}

    def __bool__(self) -> bool:
        return bool(self.files)

    def __getitem__(self, index: int) -> np.ndarray:
        import cv2

        if index not in self._cache:
            bgr = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
            if bgr is None:
                raise UserError("unreadable HR frame", self.files[index])
            self._cache[index] = np.ascontiguousarray(bgr[..., ::-1])
        return self._cache[index]


def _entry(root: Path, method: str, chunk: int, onnx_path: Path, coreml_rel: str | None, precision: str) -> dict[str, Any]:
    return {
        "method": method,
        "chunk": chunk,
        "onnx": onnx_path.relative_to(root).as_posix(),
        "coreml": coreml_rel,
        "sha256": sha256_file(onnx_path),
        "bytes": onnx_path.stat().st_size,
        "precision": precision,
    }


def _int8_gate(stem: str, cost: dict[str, Any], options: SRBundleOptions) -> dict[str, Any]:
    """Enforce the INT8 accuracy gate on ``cost`` (from :func:`_int8_cost`); returns it with ``gate``/``passed``.

    With HR (``psnr_drop_db`` known): gate ``psnr_drop_vs_hr``, drop <= ``max_psnr_drop_db``. Without:
    gate ``psnr_int8_vs_fp32_floor``, ``psnr_int8_vs_fp32 >= min_int8_psnr_vs_fp32_db``.
    """
    hint = "try --quant-preset qnn_u16, --calibrate-method percentile or more calibration tiles"
    drop = cost["psnr_drop_db"]
    if drop is not None:
        cost = {**cost, "gate": "psnr_drop_vs_hr", "limit_db": options.max_psnr_drop_db}
        if drop > options.max_psnr_drop_db:
            raise UserError(
                f"{stem}: INT8 loses {drop:.2f} dB PSNR vs FP32 (allowed {options.max_psnr_drop_db} dB); {hint}"
            )
        return cost
    vs_fp32 = cost["psnr_int8_vs_fp32"]
    cost = {**cost, "gate": "psnr_int8_vs_fp32_floor", "limit_db": options.min_int8_psnr_vs_fp32_db}
    if vs_fp32 < options.min_int8_psnr_vs_fp32_db:
        raise UserError(
            f"{stem}: INT8 output is only {vs_fp32:.2f} dB PSNR from the FP32 output (the run kept no HR frames; "
            f"at least {options.min_int8_psnr_vs_fp32_db} dB required); {hint}"
        )
    return cost


def _tile_sampling(method: str, index: int, models: int, grid_labels: np.ndarray) -> dict[str, Any]:
    """Where model ``index`` of ``method`` draws its calibration/validation tiles (kwargs of sr_tile_origins).

    ``stdo``: tiles centred on the patches the label map gives to chunk ``index``; ``temporal`` (several
    models): frames of its own segment (``np.array_split`` of the label map's frames, as the player
    splits them); other methods: anywhere in the video.
    """
    if method == "stdo":
        return {"grid_labels": grid_labels, "label": index}
    if method == "temporal" and models > 1:
        return {"frame_indices": np.array_split(np.arange(len(grid_labels)), models)[index].tolist()}
    return {}


def _parity_origins(
    lr_frames: list[np.ndarray], tile: tuple[int, int], count: int, seed: int, sampling: dict[str, Any]
) -> np.ndarray:
    """``count`` tile origins (N, 3) ``(t, y0, x0)`` for the FP32 parity check, spread evenly over frames.

    The frames are the model's own (``sampling["frame_indices"]`` or all), taken at evenly spaced
    positions (repeated when there are fewer frames than tiles); within a frame the tile follows the
    model's sampling (STDO: centred on one of the chunk's patches when the frame has one).
    """
    from export.quantize import sr_tile_origins

    frames = np.asarray(sampling.get("frame_indices", range(len(lr_frames))), dtype=np.int64)
    picks = frames[np.round(np.linspace(0, len(frames) - 1, count)).astype(np.int64)]
    rest = {k: v for k, v in sampling.items() if k != "frame_indices"}
    return np.concatenate(
        [sr_tile_origins(lr_frames, tile, 1, seed + k, frame_indices=[int(t)], **rest) for k, t in enumerate(picks)]
    )


def _int8_cost(
    fp32_session: Any,
    int8_session: Any,
    lr_frames: list[np.ndarray],
    hr_frames: _HRFrames,
    origins: np.ndarray,
    tile: tuple[int, int],
    scale: int,
) -> dict[str, Any]:
    """INT8 vs FP32 (and vs HR when the run kept it) on validation tiles at ``origins`` (N, 3) ``(t, y0, x0)``.

    The origins come from :func:`export.quantize.sr_tile_origins` with the model's own sampling
    (:func:`_tile_sampling`); they are recorded as ``validation_origins``.
    """
    from export.quantize import sr_quantization_cost, sr_tiles_at

    th, tw = tile
    h, w = lr_frames[0].shape[:2]
    hh, ww = min(h, th) * scale, min(w, tw) * scale
    fp32_out, int8_out, hr_out = [], [], []
    for (t, y0, x0), x in zip(origins.tolist(), sr_tiles_at(lr_frames, origins, tile), strict=True):
        fp32_out.append(fp32_session.run(None, {"lr": x[None]})[0][0, :, :hh, :ww])
        int8_out.append(int8_session.run(None, {"lr": x[None]})[0][0, :, :hh, :ww])
        if hr_frames:
            hr = hr_frames[t][scale * y0 : scale * y0 + hh, scale * x0 : scale * x0 + ww]
            hr_out.append(hr.transpose(2, 0, 1).astype(np.float32) / 255.0)
    cost: dict[str, Any] = dict(sr_quantization_cost(fp32_out, int8_out, hr_out if hr_frames else None))
    cost["tiles"] = len(origins)
    cost["validation_origins"] = origins.tolist()
    return cost
