"""Batched inference: RGB uint8 images of any size -> L2-normalised embeddings.

:class:`ImageEmbedder` holds the model, the device and the batch size (stateful inference lives outside
the ``nn.Module``). Images are resized to ``model.input_size`` (bilinear, no crop: the same transform the
training data module uses) and scaled to [0, 1]; the model normalises them itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from identification.model import Embedder
from vision.common.progress import track


def to_tensor(images: Sequence[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """RGB uint8 (H, W, 3) images -> (B, 3, size[0], size[1]) float32 in [0, 1]."""
    h, w = size
    batch = np.empty((len(images), h, w, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"image {i}: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
        batch[i] = img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)


class ImageEmbedder:
    """Embed images with an :class:`Embedder` in eval mode.

    Args:
        model: the embedder (put in eval mode here).
        batch_size: images per forward pass.
        device: torch device string.
    """

    def __init__(self, model: Embedder, batch_size: int = 32, device: str = "cpu") -> None:
        self.model = model.eval().to(device)
        self.batch_size = int(batch_size)
        self.device = device

    @property
    def embed_dim(self) -> int:
        return self.model.embed_dim

    @torch.inference_mode()
    def embed(self, images: Sequence[np.ndarray], progress: str | None = None) -> np.ndarray:
        """RGB uint8 (H, W, 3) images of any size -> (N, D) float32, unit L2 norm per row.

        ``progress``: a description to show a progress bar over the batches.
        """
        if len(images) == 0:
            return np.zeros((0, self.embed_dim), np.float32)
        starts = range(0, len(images), self.batch_size)
        if progress:
            starts = track(list(starts), progress)  # type: ignore[assignment]
        out = []
        for s in starts:
            x = to_tensor(images[s : s + self.batch_size], self.model.input_size).to(self.device)
            out.append(self.model(x).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32, copy=False)

    def embed_files(
        self, paths: Sequence[str | os.PathLike[str]], progress: str | None = "embedding images"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Read and embed image files in batches; unreadable files are skipped.

        Returns:
            embeddings: (M, D) float32 for the readable files, in order.
            ok: (N,) bool, which of ``paths`` were readable (M = ok.sum()).
        """
        from identification.armbench import read_rgb

        ok = np.zeros(len(paths), dtype=bool)
        chunks: list[np.ndarray] = []
        starts = list(range(0, len(paths), self.batch_size))
        for s in track(starts, progress) if progress else starts:
            images = []
            for i in range(s, min(s + self.batch_size, len(paths))):
                img = read_rgb(paths[i])
                if img is not None:
                    ok[i] = True
                    images.append(img)
            if images:
                chunks.append(self.embed(images))
        emb = np.concatenate(chunks) if chunks else np.zeros((0, self.embed_dim), np.float32)
        return emb, ok
