"""SAM export for NPUs: image encoder at a fixed 1x3x1024x1024, prompt decoder with a fixed point count.

Like segment_anything's ``SamOnnxModel``, but static and without any resize inside the graphs (shapes
below for the real models; a tiny test SAM uses its own ``img_size`` the same way):

- ``sam_encoder.onnx``: ``image`` (1, 3, 1024, 1024) float32 RGB in [0, 255], the frame resized so its
  longest side is 1024 and padded bottom/right **with the pixel mean** (123.675, 116.28, 103.53) (then
  the in-graph normalisation turns the pad into the zeros SAM pads with; :func:`prepare_image` does this)
  -> ``image_embeddings`` (1, C, 64, 64) float32.
- ``sam_decoder.onnx``: ``image_embeddings`` (1, C, 64, 64), ``point_coords`` (1, N, 2) float32 in pixels
  of the 1024 frame (x, y), ``point_labels`` (1, N) float32 (1 foreground, 0 background, 2/3 box corners,
  -1 padding: unused slots of the fixed N), ``mask_input`` (1, 1, 256, 256) float32 logits,
  ``has_mask_input`` (1,) float32 0/1 -> ``low_res_masks`` (1, 4, 256, 256) float32 logits (token 0 the
  single-mask output, 1-3 the multimask outputs) and ``iou_predictions`` (1, 4). Upscaling to the
  original image size (x4, crop the pad, resize) is left to the app, outside the NPU graph.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from vision.common.atomic import atomic_dir, write_json_atomic
from vision.common.errors import UserError
from vision.common.runinfo import sha256_file

if TYPE_CHECKING:
    from segment_anything.modeling import Sam

PIXEL_MEAN = (123.675, 116.28, 103.53)
IMAGE_SIZE = 1024


class SamEncoderOnnx(nn.Module):
    """(1, 3, 1024, 1024) float32 RGB in [0, 255] (mean-padded) -> (1, C, 64, 64) image embeddings."""

    pixel_mean: torch.Tensor  # (1, 3, 1, 1) buffers
    pixel_std: torch.Tensor

    def __init__(self, sam: Sam) -> None:
        super().__init__()
        self.image_encoder = sam.image_encoder
        self.register_buffer("pixel_mean", sam.pixel_mean.detach().clone().view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", sam.pixel_std.detach().clone().view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_encoder((image - self.pixel_mean) / self.pixel_std)


class SamDecoderOnnx(nn.Module):
    """Prompt encoder + mask decoder with a fixed point count and no output resize (see module docstring)."""

    def __init__(self, sam: Sam) -> None:
        super().__init__()
        self.prompt_encoder = sam.prompt_encoder
        self.mask_decoder = sam.mask_decoder
        self.img_size = int(sam.image_encoder.img_size)

    def _embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        pe = self.prompt_encoder
        coords = (coords + 0.5) / self.img_size
        emb = pe.pe_layer._pe_encoding(coords)
        lab = labels.unsqueeze(-1).expand_as(emb)
        emb = emb * (lab != -1) + pe.not_a_point_embed.weight * (lab == -1)
        for i in range(pe.num_point_embeddings):
            emb = emb + pe.point_embeddings[i].weight * (lab == i)
        return emb

    def forward(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        sparse = self._embed_points(point_coords, point_labels)
        has = has_mask_input.view(-1, 1, 1, 1)
        dense = has * self.prompt_encoder.mask_downscaling(mask_input) + (1 - has) * (
            self.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        )
        masks, iou = self.mask_decoder.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=self.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
        )
        return masks, iou


def prepare_image(rgb: np.ndarray, size: int = IMAGE_SIZE) -> tuple[np.ndarray, float]:
    """RGB uint8 (H, W, 3) -> (1, 3, size, size) float32 encoder input (resized, mean-padded) and scale."""
    import cv2

    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    canvas = np.empty((size, size, 3), dtype=np.float32)
    canvas[...] = np.array(PIXEL_MEAN, dtype=np.float32)
    canvas[:nh, :nw] = resized
    return canvas.transpose(2, 0, 1)[None].copy(), scale


def tiny_sam(seed: int = 0) -> Sam:
    """A random tiny SAM (``vision.sam.build_tiny_sam``: 64x64 input, 8x8 embedding grid) for tests and ``--tiny``."""
    from vision.sam import build_tiny_sam

    return build_tiny_sam(seed=seed).eval()


def load_sam(checkpoint: str | os.PathLike[str], model_type: str, verify: bool = True) -> Sam:
    """A SAM model from a segment_anything checkpoint through ``vision.sam.build_sam``.

    ``verify`` checks the SHA-256 against the official checkpoints (off for fine-tuned ones).
    """
    from vision.sam import build_sam

    return build_sam(model_type, cast("str | Path", checkpoint), verify=verify).eval()


def decoder_example_inputs(sam: Sam, points: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Example decoder inputs with ``points`` prompt points (the last one a -1 padding slot when > 1)."""
    g = torch.Generator().manual_seed(seed)
    dim = int(sam.prompt_encoder.embed_dim)
    grid = sam.prompt_encoder.image_embedding_size
    emb = torch.randn(1, dim, *grid, generator=g)
    coords = torch.rand(1, points, 2, generator=g) * float(sam.image_encoder.img_size)
    labels = torch.ones(1, points)
    if points > 1:
        labels[0, -1] = -1
        coords[0, -1] = 0
    mask_input = torch.zeros(1, 1, 4 * grid[0], 4 * grid[1])
    has_mask = torch.zeros(1)
    return emb, coords, labels, mask_input, has_mask


def export_sam(
    out: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None = None,
    model_type: str = "vit_b",
    tiny: bool = False,
    points: int = 2,
    sam: Sam | None = None,
    overwrite: bool = False,
    verify: bool = True,
) -> dict[str, Any]:
    """Export SAM's encoder and decoder to ``out/sam_encoder.onnx`` and ``out/sam_decoder.onnx``.

    Both pass a PyTorch vs ONNX Runtime parity check (max abs error <= 1e-4 for the decoder logits,
    relative to the embedding scale for the encoder); a ``report.json`` records shapes, parity and hashes.
    """
    from export.onnx import export_onnx, io_shapes, op_counts
    from export.parity import check_parity

    if points < 1:
        raise UserError(f"--points must be >= 1, got {points}")
    if sam is None:
        if tiny:
            sam = tiny_sam()
        elif checkpoint is not None:
            sam = load_sam(checkpoint, model_type, verify)
        else:
            raise UserError("give a SAM --checkpoint or --tiny")
    sam = sam.eval()
    encoder, decoder = SamEncoderOnnx(sam).eval(), SamDecoderOnnx(sam).eval()
    g = torch.Generator().manual_seed(0)
    size = int(sam.image_encoder.img_size)  # 1024 for the real SAM models
    image = torch.rand(1, 3, size, size, generator=g) * 255.0
    dec_inputs = decoder_example_inputs(sam, points)
    dec_names = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"]
    report: dict[str, Any] = {"model_type": "tiny" if tiny else model_type, "image_size": size, "points": points}
    with atomic_dir(out, overwrite) as tmp:
        enc_path = export_onnx(encoder, (image,), tmp / "sam_encoder.onnx", "sam_encoder", ["image"], ["image_embeddings"])
        with torch.no_grad():
            scale = float(encoder(image).abs().max())
        enc = check_parity(
            encoder, enc_path, (image,), ["image"], ["image_embeddings"], tolerance=1e-4 * max(1.0, scale), name="sam encoder"
        )
        dec_path = export_onnx(decoder, dec_inputs, tmp / "sam_decoder.onnx", "sam_decoder", dec_names, ["low_res_masks", "iou_predictions"])
        dec = check_parity(decoder, dec_path, dec_inputs, dec_names, ["low_res_masks", "iou_predictions"], tolerance=1e-4, name="sam decoder")
        report["parity"] = {"encoder": enc.to_dict(), "decoder": dec.to_dict()}
        report["onnx"] = {
            name: {"io": io_shapes(p), "op_counts": op_counts(p)} for name, p in (("encoder", enc_path), ("decoder", dec_path))
        }
        report["files"] = {
            p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in sorted(tmp.iterdir()) if p.is_file()
        }
        write_json_atomic(Path(tmp) / "report.json", report)
    return report
