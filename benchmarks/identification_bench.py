"""Identification benchmark: embedding throughput per backbone and gallery search latency.

    python benchmarks/identification_bench.py --out identification_bench.json [--quick] [--overwrite]

* Embedding: images/s of ``Embedder.forward`` (eval, inference mode, fp32, random init: speed does not
  depend on the weights) at each backbone's input size, batch ``--batch``; FLOPs per image counted with
  ``torch.utils.flop_counter`` and compared with an fp32 matrix product measured in the same run
  (``gemm_gflops``), so ``fraction_of_gemm`` tells how close each model runs to this CPU's floor.
* Gallery: latency of one query object (k=3) against N products, one unit vector of D dims per product
  (D = 128 float32 by default: 1M products = 512 MB), for the exact ``IndexFlatIP`` and the approximate
  ``IndexIVFFlat`` the gallery switches to past its threshold (recall@3 of the approximate index against
  the exact one reported alongside); plus the full ``Gallery.search`` path at the smallest size.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from identification.gallery import Gallery, build_index
from identification.model import build_embedder
from vision.common.atomic import check_can_write, write_json_atomic
from vision.common.runinfo import machine_info

BACKBONES: list[tuple[str, int | None]] = [
    ("test_vit", 48),
    ("resnet18", None),
    ("vit_tiny_patch16_224", None),
    ("vit_small_patch14_dinov2", 224),
    ("vit_base_patch16_384", None),
]


def gemm_gflops(n: int = 1024, repeats: int = 10) -> float:
    """Achieved fp32 GFLOP/s of an n x n matrix product on this CPU (best of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def embedding_throughput(name: str, img_size: int | None, batch: int, seconds: float) -> dict[str, Any]:
    from torch.utils.flop_counter import FlopCounterMode

    model = build_embedder(name, img_size=img_size).eval()
    h, w = model.input_size
    x = torch.rand(batch, 3, h, w)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            model(x[:1])
        flops = counter.get_total_flops()
        model(x)  # warm-up
        n, start = 0, time.perf_counter()
        while True:
            model(x)
            n += batch
            elapsed = time.perf_counter() - start
            if elapsed >= seconds and n >= 2 * batch:
                break
    ips = n / elapsed
    return {"backbone": name, "input_size": [h, w], "embed_dim": model.embed_dim, "batch": batch,
            "images_per_s": round(ips, 2), "gflops_per_image": round(flops / 1e9, 3),
            "achieved_gflops": round(ips * flops / 1e9, 1)}


def _latency_ms(fn, repeats: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return {"median_ms": round(float(np.median(times)), 4), "p90_ms": round(float(np.percentile(times, 90)), 4)}


def gallery_latency(n: int, dim: int, queries: int, k: int = 3, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # queries near stored products (as real queries are): a product vector plus noise
    q = vectors[rng.integers(n, size=queries)] + 0.5 * rng.standard_normal((queries, dim), dtype=np.float32) / np.sqrt(dim)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    out: dict[str, Any] = {"products": n, "dim": dim, "memory_mb": round(vectors.nbytes / 2**20, 1), "k": k}
    t = time.perf_counter()
    flat = build_index(vectors, approximate=False)
    out["flat_build_s"] = round(time.perf_counter() - t, 3)
    it = iter(range(10**9))
    out["flat_one_query"] = _latency_ms(lambda: flat.search(q[next(it) % queries][None], k), repeats=queries)
    _, exact = flat.search(q, k)
    if n >= 10_000:
        t = time.perf_counter()
        ivf = build_index(vectors, approximate=True, seed=seed)
        out["ivf_build_s"] = round(time.perf_counter() - t, 3)
        out["ivf_nlist"], out["ivf_nprobe"] = int(ivf.nlist), int(ivf.nprobe)
        it2 = iter(range(10**9))
        out["ivf_one_query"] = _latency_ms(lambda: ivf.search(q[next(it2) % queries][None], k), repeats=queries)
        _, approx = ivf.search(q, k)
        hits = [len(set(a.tolist()) & set(e.tolist())) / k for a, e in zip(approx, exact, strict=True)]
        out[f"ivf_recall@{k}_vs_exact"] = round(float(np.mean(hits)), 4)
        out["ivf_top1_agreement"] = round(float(np.mean(approx[:, 0] == exact[:, 0])), 4)
        out["ivf_speedup"] = round(out["flat_one_query"]["median_ms"] / max(out["ivf_one_query"]["median_ms"], 1e-9), 2)
    return out


def gallery_object_latency(n: int, dim: int, views: int = 4, seed: int = 0) -> dict[str, Any]:
    """End-to-end ``Gallery.search`` (one object, 4 query views) with 3 reference views per product."""
    rng = np.random.default_rng(seed)
    g = Gallery()
    for i in range(n):
        g.add(f"P{i:07d}", rng.standard_normal((3, dim), dtype=np.float32))
    q = rng.standard_normal((views, dim), dtype=np.float32)
    return {"products": n, "views_per_product": 3, "query_views": views,
            "centroid": _latency_ms(lambda: g.search(q, 3, "centroid"), 50),
            "best_view": _latency_ms(lambda: g.search(q, 3, "best_view"), 50),
            "best_view_candidates_8": _latency_ms(lambda: g.search(q, 3, "best_view", [f"P{i:07d}" for i in range(8)]), 50)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="JSON report to write")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quick", action="store_true", help="small sizes and one backbone (smoke test)")
    p.add_argument("--dim", type=int, default=128, help="gallery embedding dimension")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="gallery sizes (default 1k 100k 1M)")
    p.add_argument("--batch", type=int, default=8, help="embedding batch size")
    p.add_argument("--seconds", type=float, default=3.0, help="minimum timed seconds per backbone")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--faiss-threads", type=int, default=1,
                   help="OpenMP threads for faiss (default 1: one query gains nothing from more, and on a "
                        "loaded machine OpenMP barriers cost tens of ms)")
    args = p.parse_args(argv)
    check_can_write(args.out, args.overwrite)
    if args.threads:
        torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.faiss_threads)
    backbones = BACKBONES[:1] if args.quick else BACKBONES
    sizes = args.sizes or ([1000, 20_000] if args.quick else [1000, 100_000, 1_000_000])
    seconds = 0.3 if args.quick else args.seconds
    report: dict[str, Any] = {"machine_info": machine_info(), "torch_threads": torch.get_num_threads(),
                              "faiss_threads": args.faiss_threads, "gallery_dim": args.dim,
                              "note": "random-init weights (speed only); gallery vectors are random unit vectors"}
    report["gemm_gflops"] = round(gemm_gflops(512 if args.quick else 2048, repeats=3 if args.quick else 8), 1)
    report["embedding"] = []
    for name, size in backbones:
        row = embedding_throughput(name, size, args.batch, seconds)
        row["fraction_of_gemm"] = round(row["achieved_gflops"] / report["gemm_gflops"], 3)
        print(row, flush=True)
        report["embedding"].append(row)
    report["gallery_search"] = []
    for n in sizes:
        row = gallery_latency(n, args.dim, queries=20 if args.quick else 100)
        print(row, flush=True)
        report["gallery_search"].append(row)
    report["gallery_object"] = gallery_object_latency(min(sizes), args.dim)
    print(report["gallery_object"], flush=True)
    write_json_atomic(args.out, report, overwrite=args.overwrite)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
