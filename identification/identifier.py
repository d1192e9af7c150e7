"""Identify object crops against a gallery: the run-time entry point of the identification area.

``Identifier(ImageEmbedder(model), gallery).identify(crops, k=3)`` returns, for each crop, the ranked
``[(product_id, cosine similarity), ...]``. New products are added from a few reference images with
:meth:`Identifier.add_product` -- no retraining.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from identification.embed import ImageEmbedder
from identification.gallery import MODES, Gallery


class Identifier:
    """Embedder + gallery.

    Args:
        embedder: turns RGB uint8 crops into unit embeddings.
        gallery: reference embeddings per product (same embedding model!).
        mode: ``"centroid"`` or ``"best_view"`` (see :class:`Gallery`).
    """

    def __init__(self, embedder: ImageEmbedder, gallery: Gallery, mode: str = "centroid") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if gallery.dim is not None and gallery.dim != embedder.embed_dim:
            raise ValueError(f"gallery dimension {gallery.dim} differs from the embedder's {embedder.embed_dim}")
        self.embedder = embedder
        self.gallery = gallery
        self.mode = mode

    def add_product(self, product_id: str, images: Sequence[np.ndarray]) -> None:
        """Embed RGB uint8 reference ``images`` of a product and add them to the gallery."""
        if len(images) == 0:
            raise ValueError(f"no reference images given for {product_id!r}")
        self.gallery.add(product_id, self.embedder.embed(images))

    def identify(
        self, crops: Sequence[np.ndarray], k: int = 1, candidates: list[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """One ranked list of (product_id, score) per crop (each crop is a separate single-view query)."""
        if len(crops) == 0:
            return []
        emb = self.embedder.embed(crops)
        return [self.gallery.search(e[None], k=k, mode=self.mode, candidates=candidates) for e in emb]

    def identify_object(
        self, views: Sequence[np.ndarray], k: int = 1, candidates: list[str] | None = None
    ) -> list[tuple[str, float]]:
        """Rank products for ONE object seen in several ``views`` (e.g. pick images from several cameras)."""
        if len(views) == 0:
            return []
        return self.gallery.search(self.embedder.embed(views), k=k, mode=self.mode, candidates=candidates)
