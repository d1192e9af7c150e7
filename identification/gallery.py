"""Run-time product gallery: reference embeddings per product, faiss search, safetensors storage.

Products are added from reference-image embeddings without retraining and can be removed. Search ranks
products for ONE query object given by its Q view embeddings:

* ``"centroid"``: cosine similarity between the mean query embedding and each product's mean reference
  embedding (both re-normalised);
* ``"best_view"``: the highest cosine similarity between any query view and any reference view.

Search uses faiss ``IndexFlatIP`` (exact inner product on unit vectors) up to ``approximate_threshold``
indexed vectors and an ``IndexIVFFlat`` (inner product, 4 sqrt(N) lists, 64 probed) past it. ``candidates``
restricts the search to given products (e.g. a tote's contents) and is answered exactly with NumPy.
Results are sorted by score descending, ties by product id.

Storage (no pickle): ``<path>/gallery.json`` (format, dim, product ids with row counts, metadata) and
``<path>/embeddings.safetensors`` (one float32 tensor ``embeddings`` of shape (N, D), rows in product order).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vision.common.errors import UserError, read_json, require_dir, require_file

GALLERY_FORMAT = "edgevision-gallery"
MODES = ("centroid", "best_view")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def build_index(vectors: np.ndarray, approximate: bool, nprobe: int = 64, seed: int = 0) -> Any:
    """A faiss inner-product index over (N, D) float32 ``vectors``: exact flat, or IVF-flat with
    ``nlist = 4 sqrt(N)`` lists trained on at most 64 points per list."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    if not approximate:
        flat = faiss.IndexFlatIP(dim)
        flat.add(vectors)
        return flat
    nlist = max(1, int(4 * np.sqrt(n)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
    index.cp.seed = seed
    index.cp.min_points_per_centroid = 1  # small galleries just past the threshold: no faiss warning
    index.train(sample)
    index.add(vectors)
    index.nprobe = min(nprobe, nlist)
    return index


class Gallery:
    """Reference embeddings per product.

    Args:
        dim: embedding dimension D (fixed by the first ``add`` if None).
        approximate_threshold: indexed vectors from which the IVF index replaces the exact one.
        metadata: free JSON-serialisable description (e.g. the embedder's backbone and checkpoint hash).
    """

    def __init__(
        self, dim: int | None = None, approximate_threshold: int = 100_000, metadata: dict[str, Any] | None = None
    ) -> None:
        self.dim = dim
        self.approximate_threshold = int(approximate_threshold)
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._embeddings: dict[str, np.ndarray] = {}
        self._cache: dict[str, tuple[Any, list[str] | np.ndarray]] = {}

    # ---------------------------------------------------------------- content
    @property
    def product_ids(self) -> list[str]:
        """Product ids in insertion order."""
        return list(self._embeddings)

    def __len__(self) -> int:
        return len(self._embeddings)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._embeddings

    def embeddings(self, product_id: str) -> np.ndarray:
        """(N_p, D) float32 unit-norm reference embeddings of one product."""
        return self._embeddings[product_id]

    @property
    def num_embeddings(self) -> int:
        return int(sum(len(e) for e in self._embeddings.values()))

    def add(self, product_id: str, embeddings: np.ndarray) -> None:
        """Add (N, D) reference embeddings for ``product_id`` (appended if the product exists)."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim == 1:
            emb = emb[None]
        if emb.ndim != 2 or len(emb) == 0:
            raise ValueError(f"embeddings for {product_id!r} must be (N>=1, D), got {emb.shape}")
        if self.dim is None:
            self.dim = int(emb.shape[1])
        if emb.shape[1] != self.dim:
            raise ValueError(f"embeddings for {product_id!r} have dimension {emb.shape[1]}, gallery has {self.dim}")
        if not np.isfinite(emb).all():
            raise ValueError(f"embeddings for {product_id!r} contain NaN or inf")
        emb = _unit(emb)
        old = self._embeddings.get(product_id)
        self._embeddings[product_id] = emb if old is None else np.concatenate([old, emb])
        self._cache.clear()

    def remove(self, product_id: str) -> None:
        """Remove a product; KeyError if it is not in the gallery."""
        if product_id not in self._embeddings:
            raise KeyError(product_id)
        del self._embeddings[product_id]
        self._cache.clear()

    # ---------------------------------------------------------------- search
    def _index(self, mode: str) -> tuple[Any, np.ndarray]:
        """(faiss index, row -> product position) for ``mode``, built lazily and cached until a change."""
        if mode not in self._cache:
            ids = self.product_ids
            if mode == "centroid":
                vectors = _unit(np.stack([self._embeddings[p].mean(axis=0) for p in ids]))
                owners = np.arange(len(ids))
            else:
                vectors = np.concatenate([self._embeddings[p] for p in ids])
                owners = np.repeat(np.arange(len(ids)), [len(self._embeddings[p]) for p in ids])
            approx = len(vectors) >= self.approximate_threshold
            self._cache[mode] = (build_index(vectors, approx), owners)
        return self._cache[mode]  # type: ignore[return-value]

    def search(
        self, queries: np.ndarray, k: int = 1, mode: str = "centroid", candidates: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Rank products for one query object.

        Args:
            queries: (Q, D) embeddings of the object's views (Q >= 1), or (D,).
            k: number of products to return (fewer if the gallery or candidate set is smaller).
            mode: ``"centroid"`` or ``"best_view"``.
            candidates: restrict to these product ids (unknown ids are ignored).

        Returns:
            [(product_id, cosine similarity), ...] best first, ties by product id.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None]
        if q.ndim != 2 or len(q) == 0 or (self.dim is not None and q.shape[1] != self.dim):
            raise ValueError(f"queries must be (Q>=1, {self.dim}), got {q.shape}")
        if not self._embeddings or k < 1:
            return []
        q = _unit(q)
        if candidates is not None:
            return self._search_exact(q, k, mode, [c for c in dict.fromkeys(candidates) if c in self._embeddings])
        ids = self.product_ids
        index, owners = self._index(mode)
        if mode == "centroid":
            qc = _unit(q.mean(axis=0, keepdims=True))
            kk = min(len(ids), k + 8)  # a few extra so ties at the boundary resolve by id
            scores, rows = index.search(qc, kk)
            found = {ids[owners[r]]: float(s) for s, r in zip(scores[0], rows[0], strict=True) if r >= 0}
        else:
            found = {}
            n_rows = len(owners)
            for view in q:
                kk = min(n_rows, k + 8)
                while True:
                    scores, rows = index.search(view[None], kk)
                    best: dict[str, float] = {}
                    for s, r in zip(scores[0], rows[0], strict=True):
                        if r >= 0:
                            pid = ids[owners[r]]
                            best[pid] = max(best.get(pid, -np.inf), float(s))
                    if len(best) >= min(k + 8, len(ids)) or kk >= n_rows:
                        break
                    kk = min(n_rows, kk * 4)
                for pid, s in best.items():
                    found[pid] = max(found.get(pid, -np.inf), s)
        return sorted(found.items(), key=lambda t: (-t[1], t[0]))[:k]

    def _search_exact(self, q: np.ndarray, k: int, mode: str, ids: list[str]) -> list[tuple[str, float]]:
        scores = []
        for pid in ids:
            refs = self._embeddings[pid]
            if mode == "centroid":
                s = float(_unit(q.mean(axis=0)) @ _unit(refs.mean(axis=0)))
            else:
                s = float((q @ refs.T).max())
            scores.append((pid, s))
        return sorted(scores, key=lambda t: (-t[1], t[0]))[:k]

    # ---------------------------------------------------------------- storage
    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the gallery folder atomically (refuses an existing path unless ``overwrite``)."""
        from safetensors.numpy import save_file

        from vision.common.atomic import atomic_dir

        ids = self.product_ids
        emb = np.concatenate([self._embeddings[p] for p in ids]) if ids else np.zeros((0, self.dim or 0), np.float32)
        index = {
            "format": GALLERY_FORMAT,
            "version": 1,
            "dim": self.dim,
            "approximate_threshold": self.approximate_threshold,
            "products": [{"id": p, "rows": len(self._embeddings[p])} for p in ids],
            "metadata": self.metadata,
        }
        with atomic_dir(path, overwrite) as tmp:
            save_file({"embeddings": np.ascontiguousarray(emb, dtype=np.float32)}, str(tmp / "embeddings.safetensors"))
            (tmp / "gallery.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Gallery:
        """Read a gallery folder written by :meth:`save` (UserError if it is incomplete or inconsistent)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder = require_dir(path, "gallery folder")
        index_path = require_file(folder / "gallery.json", "gallery index")
        tensor_path = require_file(folder / "embeddings.safetensors", "gallery embeddings")
        index = read_json(index_path, "gallery index")
        if not isinstance(index, dict) or index.get("format") != GALLERY_FORMAT:
            raise UserError("not an edgevision gallery index", index_path)
        try:
            emb = load_file(str(tensor_path))["embeddings"]
        except (SafetensorError, KeyError, OSError) as err:
            raise UserError(f"cannot read gallery embeddings: {err}", tensor_path) from err
        products = index.get("products", [])
        try:
            rows = [int(p["rows"]) for p in products]
            ids = [str(p["id"]) for p in products]
            dim = index.get("dim")
            threshold = int(index.get("approximate_threshold", 100_000))
        except (KeyError, TypeError, ValueError) as err:  # a hand-edited or truncated index
            raise UserError(f"gallery index is malformed ({type(err).__name__}: {err})", index_path) from err
        if any(n < 1 for n in rows) or len(set(ids)) != len(ids):
            raise UserError("gallery index has a product with no rows or a repeated product id", index_path)
        if sum(rows) != len(emb):
            raise UserError("gallery index and embeddings disagree on the number of rows", folder)
        if emb.ndim != 2 or (dim is not None and emb.shape[1] != dim):
            raise UserError(f"gallery embeddings are {emb.shape}, the index says dimension {dim}", folder)
        gallery = cls(dim=dim, approximate_threshold=threshold, metadata=index.get("metadata") or {})
        start = 0
        for pid, n in zip(ids, rows, strict=True):
            gallery._embeddings[pid] = np.ascontiguousarray(emb[start : start + n], dtype=np.float32)
            start += n
        return gallery
