"""ArmBench evaluation: protocols (pre-pick, post-pick), matchings (abs, centroid), Recall@k.

Pure functions first: :func:`rank_products` ranks one query object's gallery, :func:`recall_at_k` scores
rankings. :func:`evaluate_armbench` embeds every needed image once (in batches, with a progress bar),
then builds each pick's gallery -- the products of its ``container.json`` that belong to the split's object
list and have at least one readable reference image -- and ranks it. A pick whose ground truth is not in
its gallery is a miss. Ties are broken by product id (ascending), so results never depend on dict order.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from identification.armbench import ArmBenchSplit
from identification.embed import ImageEmbedder
from vision.common.errors import UserError

PROTOCOLS = ("pre-pick", "post-pick")
MATCHINGS = ("abs", "centroid")
KS = (1, 2, 3)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def rank_products(
    query: np.ndarray, gallery: Mapping[str, np.ndarray], matching: str
) -> list[tuple[str, float]]:
    """Rank the products of ``gallery`` for one query object.

    Args:
        query: (Q, D) embeddings of the query object's views (Q >= 1).
        gallery: product id -> (N_p, D) reference embeddings (N_p >= 1).
        matching: ``"abs"``: score = the highest cosine similarity between any query view and any
            reference image of the product; ``"centroid"``: cosine similarity between the mean query
            embedding and the product's mean reference embedding.

    Returns:
        [(product_id, score), ...] sorted by score descending, ties by product id ascending.
    """
    if matching not in MATCHINGS:
        raise UserError(f"matching must be 'abs' or 'centroid', got {matching!r}")
    q = np.asarray(query, dtype=np.float64)
    scores: list[tuple[str, float]] = []
    if matching == "centroid":
        qc = _unit(q.mean(axis=0))
        for pid, refs in gallery.items():
            scores.append((pid, float(_unit(np.asarray(refs, np.float64).mean(axis=0)) @ qc)))
    else:
        qn = _unit(q)
        for pid, refs in gallery.items():
            scores.append((pid, float((qn @ _unit(refs).T).max())))
    return sorted(scores, key=lambda t: (-t[1], t[0]))


def recall_at_k(rankings: Sequence[Sequence[str]], ground_truth: Sequence[str], ks: Sequence[int] = KS) -> dict[str, float]:
    """Fraction of queries whose ground truth is among the first k ranked ids, for each k.

    A query with an empty ranking or whose ground truth is absent counts as a miss. Returns
    ``{"recall@1": ..., ...}`` (0.0 for no queries).
    """
    if len(rankings) != len(ground_truth):
        raise ValueError("rankings and ground_truth differ in length")
    n = len(rankings)
    out = {}
    for k in ks:
        hits = sum(1 for ranked, gt in zip(rankings, ground_truth, strict=True) if gt in list(ranked)[:k])
        out[f"recall@{k}"] = hits / n if n else 0.0
    return out


def images_needed(data: ArmBenchSplit, protocol: str) -> list[Path]:
    """Every image the evaluation of ``data`` under ``protocol`` reads, each once: query views of every
    pick, then the reference images of every split product that occurs in some container."""
    if protocol not in PROTOCOLS:
        raise UserError(f"protocol must be 'pre-pick' or 'post-pick', got {protocol!r}")
    objects = set(data.objects)
    products = sorted({p for pick in data.picks for p in pick.container if p in objects})
    paths = [p for pick in data.picks for p in pick.query_views(protocol)]
    paths += [r for pid in products for r in data.references.get(pid, [])]
    return list(dict.fromkeys(paths))


def score_picks(
    data: ArmBenchSplit,
    protocol: str,
    matching: str,
    embeddings: Mapping[Path, np.ndarray],
    images_skipped: int = 0,
) -> dict[str, Any]:
    """Rank every pick's gallery given precomputed ``embeddings`` (path -> (D,) vector of each readable
    image; unreadable images are simply absent) and return the report dict (see :func:`evaluate_armbench`)."""
    if matching not in MATCHINGS:
        raise UserError(f"matching must be 'abs' or 'centroid', got {matching!r}")
    objects = set(data.objects)
    refs: dict[str, np.ndarray] = {}
    for pid in sorted({p for pick in data.picks for p in pick.container if p in objects}):
        vecs = [embeddings[r] for r in data.references.get(pid, []) if r in embeddings]
        if vecs:
            refs[pid] = np.stack(vecs)
    skipped = Counter(data.skipped)
    rankings: list[list[str]] = []
    truths: list[str] = []
    gt_missing = 0
    gallery_sizes = []
    for pick in data.picks:
        views = [embeddings[p] for p in pick.query_views(protocol) if p in embeddings]
        if not views:
            skipped["query_images_unreadable"] += 1
            continue
        gallery = {p: refs[p] for p in dict.fromkeys(pick.container) if p in refs}
        gallery_sizes.append(len(gallery))
        gt_missing += pick.gt not in gallery
        ranking = rank_products(np.stack(views), gallery, matching) if gallery else []
        rankings.append([pid for pid, _ in ranking])
        truths.append(pick.gt)
    return {
        "protocol": protocol,
        "matching": matching,
        "split": data.split,
        **recall_at_k(rankings, truths),
        "picks_evaluated": len(rankings),
        "picks_skipped": int(sum(skipped.values())),
        "skip_reasons": dict(sorted(skipped.items())),
        "images_skipped": int(images_skipped),
        "gt_not_in_gallery": int(gt_missing),
        "mean_gallery_size": float(np.mean(gallery_sizes)) if gallery_sizes else 0.0,
    }


def evaluate_armbench(
    data: ArmBenchSplit, embedder: ImageEmbedder, protocol: str, matching: str, progress: bool = True
) -> dict[str, Any]:
    """Evaluate ``embedder`` on a loaded split; returns the JSON report dict.

    Every needed image is embedded once, in batches. Report keys: ``protocol``, ``matching``, ``split``,
    ``recall@1/2/3``, ``picks_evaluated``, ``picks_skipped`` (reader skips plus picks whose query images
    are all unreadable), ``skip_reasons``, ``images_skipped`` (unreadable JPEGs), ``gt_not_in_gallery``,
    ``mean_gallery_size``, ``images_embedded``, ``seconds``.
    """
    if matching not in MATCHINGS:
        raise UserError(f"matching must be 'abs' or 'centroid', got {matching!r}")
    start = time.perf_counter()
    paths = images_needed(data, protocol)
    emb, ok = embedder.embed_files(paths, progress="embedding images" if progress else None)
    readable = [p for p, good in zip(paths, ok, strict=True) if good]
    report = score_picks(data, protocol, matching, dict(zip(readable, emb, strict=True)), int((~ok).sum()))
    report["images_embedded"] = len(emb)
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report
