"""``edgevision quickstart``: every capability end to end on data the project generates itself.

Each area contributes one step function ``step(workdir, seed, context) -> StepResult``; the quickstart
runs them in order, times them, and prints one summary table (step, key figures, outputs). A step
publishes what later steps need (a trained checkpoint, a run folder) in ``StepResult.artifacts``; those
are merged into ``context`` for the steps after it. A failing step is reported in the table and makes
the command exit non-zero; the others still run (a step whose inputs are missing fails with a clear
message).
"""

from __future__ import annotations

import argparse
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vision.common.atomic import check_can_write, write_json_atomic


@dataclass
class StepResult:
    """What one quickstart step reports.

    Attributes:
        name: short step name shown in the table.
        figures: the key numbers (e.g. ``{"recall@1": 0.83}``), JSON-serialisable.
        outputs: the files or folders a person should look at.
        artifacts: named paths for later steps (e.g. ``{"embedder_checkpoint": ...}``).
    """

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)


StepFn = Callable[[Path, int, dict[str, Path]], StepResult]


def quickstart_steps() -> list[tuple[str, StepFn]]:
    """The steps in the order they run (later steps use earlier steps' artifacts)."""
    from demos.grasp.quickstart import step as grasp_step
    from export.quickstart import step as export_step
    from identification.quickstart import step as identification_step
    from videosr.quickstart import step as videosr_step
    from vision.quickstart import step as vision_step

    return [
        ("identification", identification_step),  # fixture, CTL training, ArmBench eval -> embedder
        ("bop", vision_step),  # BOP fixture, segment -> identify, COCO AP
        ("grasp", grasp_step),  # RGB-D bag -> grasp node -> MCAP + JSON
        ("videosr", videosr_step),  # STDO run on a generated clip
        ("export", export_step),  # SR bundle (ONNX, INT8) and torch-free playback
    ]


def run_quickstart(
    out: Path, seed: int = 0, overwrite: bool = False, steps: list[tuple[str, StepFn]] | None = None
) -> list[dict[str, Any]]:
    """Run every step under ``out`` and return one summary row per step; writes ``summary.json``.

    Args:
        out: output folder; refused if it exists unless ``overwrite`` (then it is emptied first).
        seed: seed passed to every step.
        steps: ``(name, step)`` pairs to run instead of :func:`quickstart_steps` (tests).
    """
    check_can_write(out, overwrite)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rows: list[dict[str, Any]] = []
    context: dict[str, Path] = {}
    for name, step in quickstart_steps() if steps is None else steps:
        workdir = out / name
        start = time.perf_counter()
        try:
            result = step(workdir, seed, context)
            context.update(result.artifacts)
            row = {"step": result.name, "ok": True, "figures": result.figures, "outputs": [str(p) for p in result.outputs]}
        except Exception as err:  # report and continue: the summary must show every step
            traceback.print_exc()
            row = {"step": name, "ok": False, "figures": {"error": f"{type(err).__name__}: {err}"}, "outputs": []}
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
    write_json_atomic(out / "summary.json", {"steps": rows})
    return rows


def _format_figures(figures: dict[str, Any]) -> str:
    parts = []
    for key, value in figures.items():
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts)


def _cmd_quickstart(args: argparse.Namespace) -> int:
    import logging

    from vision.common.progress import print_table

    if not args.verbose:  # Lightning's accelerator banners and tips say nothing about the results here
        import pytorch_lightning  # noqa: F401  (it resets its loggers to INFO when first imported)

        for name in ("lightning.pytorch", "pytorch_lightning", "lightning_fabric", "lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)
    start = time.perf_counter()
    rows = run_quickstart(Path(args.out), seed=args.seed, overwrite=args.overwrite)
    total = time.perf_counter() - start
    print_table(
        f"edgevision quickstart ({total:.0f} s, outputs in {args.out})",
        ["step", "ok", "seconds", "key figures", "outputs"],
        [(r["step"], "yes" if r["ok"] else "FAILED", r["seconds"], _format_figures(r["figures"]), "\n".join(r["outputs"])) for r in rows],
    )
    print(f"summary: {Path(args.out) / 'summary.json'}")
    return 0 if all(r["ok"] for r in rows) else 1


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``quickstart`` subcommand."""
    p = sub.add_parser(
        "quickstart",
        parents=[common],
        help="run every capability on generated data and print a summary table",
        description="Generate small datasets and a video, then run every edgevision capability on them "
        "(a few minutes on 2 CPU cores). Prints one summary table and writes summary.json.",
    )
    p.add_argument("--out", default="edgevision-quickstart", help="output folder (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed for data generation and training")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=_cmd_quickstart)
