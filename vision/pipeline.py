"""Assemble the detection pipeline from command-line choices: segmenter, embedder, identifier.

Kept apart from the parts themselves so that each part stays constructor-injected (``Detector(segmenter,
identifier)``); only the CLI and the quickstart build things from names and paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vision.common.errors import UserError
from vision.proposals import Segmenter


def build_segmenter(
    kind: str = "auto",
    sam_checkpoint: str | Path | None = None,
    sam_model: str | None = None,
    preset: str = "cpu",
    verify: bool = True,
    device: str = "cpu",
) -> Segmenter:
    """The segmenter to use.

    Args:
        kind: ``"sam"`` (needs ``sam_checkpoint``), ``"classical"``, or ``"auto"`` (SAM when a checkpoint is
            given, else the classical segmenter with a warning naming it).
        sam_model: SAM model type; default: the official checkpoint whose file name matches, else the preset's model.
    """
    if kind not in ("auto", "sam", "classical"):
        raise UserError(f"segmenter must be auto, sam or classical, got {kind!r}")
    if kind == "classical":
        from vision.classical import ClassicalSegmenter

        return ClassicalSegmenter()
    if sam_checkpoint is None:
        if kind == "sam":
            raise UserError("--segmenter sam needs --sam-checkpoint (see `edgevision vision download-sam`)")
        from vision.classical import warn_fallback

        return warn_fallback("no SAM checkpoint given (--sam-checkpoint)")
    from vision.sam import SAM_CHECKPOINTS, SamSegmenter, build_sam, get_preset

    p = get_preset(preset)
    if sam_model is None:
        name = Path(sam_checkpoint).name
        sam_model = next((k for k, ck in SAM_CHECKPOINTS.items() if ck.filename == name), p.model)
    return SamSegmenter(build_sam(sam_model, sam_checkpoint, verify=verify), p, device=device)


def load_identifier(checkpoint: str | Path, gallery: str | Path | None = None, mode: str = "centroid",
                    batch_size: int = 32, device: str = "cpu") -> Any:
    """``Identifier`` from an embedder checkpoint and (optionally) a saved gallery folder (empty gallery if None)."""
    from identification.embed import ImageEmbedder
    from identification.gallery import Gallery
    from identification.identifier import Identifier
    from identification.model import load_embedder

    model = load_embedder(checkpoint).eval()
    g = Gallery.load(gallery) if gallery is not None else Gallery()
    if gallery is not None and len(g) == 0:
        raise UserError("gallery is empty", gallery)
    try:
        return Identifier(ImageEmbedder(model, batch_size=batch_size, device=device), g, mode=mode)
    except ValueError as err:
        raise UserError(f"gallery does not match the embedder checkpoint {checkpoint}: {err}", gallery) from err
