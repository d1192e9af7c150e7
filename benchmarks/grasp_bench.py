"""End-to-end frames per second of the grasp node on this CPU, by stage; JSON report with machine info.

Frames are generated tote scenes (``demos.grasp.scene.render_scene``) so the benchmark needs no data;
the embedder is randomly initialised (timing does not depend on the weights). The node publishes
into a real MCAP rosbag2 in a temporary folder, so serialisation and writing are measured too.

In the same run, the vectorised suction search (box-filtered moments, one batched eigen-solve) is
compared with the brute-force baseline (an SVD plane fit per candidate pixel) on the same masks;
both must pick the same score.

    python benchmarks/grasp_bench.py --frames 20 --backbone resnet18 --out grasp_bench.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def suction_bruteforce(mask: np.ndarray, depth: np.ndarray, k: Any, params: Any) -> float:
    """Best suction score by fitting each candidate's patch with its own SVD (the reference loop)."""
    import cv2

    from demos.grasp.geometry import fit_plane

    valid = mask & np.isfinite(depth) & (depth > 0)
    if valid.sum() < 3:
        return 0.0
    edge = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    vs, us = np.nonzero(valid)
    order = np.argsort(-edge[vs, us], kind="stable")[: params.suction_candidates]
    r = params.suction_patch_px
    best = 0.0
    for i in order:
        v, u = vs[i], us[i]
        sl = (slice(max(v - r, 0), v + r + 1), slice(max(u - r, 0), u + r + 1))
        pv = valid[sl]
        if pv.sum() < 3:
            continue
        yy, xx = np.mgrid[sl]
        pts = k.backproject(xx[pv], yy[pv], depth[sl][pv])
        n, _, rms = fit_plane(pts)
        cos_tilt = max(0.0, -n[2])
        if cos_tilt < np.cos(np.deg2rad(params.suction_max_tilt_deg)):
            continue
        score = min(1.0, edge[v, u] / params.suction_edge_px) * np.exp(-rms / params.suction_flat_tol_m) * cos_tilt
        best = max(best, float(score))
    return best


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20, help="timed frames (after 2 warm-up frames)")
    parser.add_argument("--backbone", default="resnet18", help="timm backbone of the embedder")
    parser.add_argument("--img-size", type=int, default=224, help="embedder input side")
    parser.add_argument("--products", type=int, default=20, help="gallery size")
    parser.add_argument("--width", type=int, default=640, help="frame width (height = 3/4 of it)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="grasp_bench.json", help="JSON report path")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report")
    args = parser.parse_args(argv)
    from vision.common.atomic import check_can_write

    check_can_write(args.out, args.overwrite)  # before the timed run, not after

    import torch

    from demos.grasp.bag import BagWriter
    from demos.grasp.geometry import GraspParams, suction_grasp
    from demos.grasp.node import GraspNode
    from demos.grasp.scene import SceneConfig, render_scene
    from identification.embed import ImageEmbedder
    from identification.fixture import make_catalog, render_product
    from identification.gallery import Gallery
    from identification.identifier import Identifier
    from identification.model import build_embedder
    from vision.classical import ClassicalSegmenter
    from vision.common.atomic import write_json_atomic
    from vision.common.runinfo import machine_info, seed_everything

    seed_everything(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    catalog = make_catalog(args.products, args.seed)
    embedder = ImageEmbedder(build_embedder(args.backbone, img_size=args.img_size))
    identifier = Identifier(embedder, Gallery())
    for spec in catalog:
        identifier.add_product(spec.product_id, [render_product(spec, rng, 128)[0] for _ in range(3)])
    scale = args.width / 320
    cfg = SceneConfig(width=args.width, height=args.width * 3 // 4,
                      object_px=(int(64 * scale), int(92 * scale)))
    frames = [render_scene(catalog, rng, cfg, stamp_ns=i, name=f"f{i}") for i in range(args.frames + 2)]
    params = GraspParams()
    timings: list[dict[str, float]] = []
    objects = 0
    with tempfile.TemporaryDirectory() as tmp:
        with BagWriter(Path(tmp) / "bench.mcap") as bag:
            node = GraspNode(ClassicalSegmenter(), identifier, params, publish=bag.write)
            for i, frame in enumerate(frames):
                out = node.callback(frame)
                if i >= 2:
                    timings.append(out.timings_ms)
                    objects += len(out.objects)

    # same-run baseline: vectorised vs brute-force suction search on the ground-truth masks
    masks = []
    for f in frames[2:]:
        assert f.truth is not None and f.depth is not None
        masks += [(f.truth.instances == inst, f.depth, f.intrinsics) for inst in f.truth.objects]
    t0 = time.perf_counter()
    fast = [suction_grasp(m, d, k, params).score for m, d, k in masks]
    t1 = time.perf_counter()
    slow = [suction_bruteforce(m, d, k, params) for m, d, k in masks]
    t2 = time.perf_counter()

    stages = list(timings[0])
    mean = {s: float(np.mean([t[s] for t in timings])) for s in stages}
    search = {
        "objects": len(masks),
        "vectorised_ms_per_object": (t1 - t0) * 1e3 / len(masks),
        "bruteforce_ms_per_object": (t2 - t1) * 1e3 / len(masks),
        "speedup": (t2 - t1) / max(t1 - t0, 1e-9),
        "max_score_difference": float(np.max(np.abs(np.array(fast) - np.array(slow)))),
    }
    fps = 1000.0 / mean["total"]
    report = {
        "benchmark": "grasp_node",
        "config": {"frames": args.frames, "backbone": args.backbone, "img_size": args.img_size,
                   "gallery_products": args.products, "image": [cfg.width, cfg.height],
                   "torch_threads": torch.get_num_threads(), "segmenter": "ClassicalSegmenter"},
        "objects_per_frame": objects / len(timings),
        "mean_ms": mean,
        "median_ms": {s: float(np.median([t[s] for t in timings])) for s in stages},
        "fps": fps,
        "fps_by_stage": {s: 1000.0 / v for s, v in mean.items() if s != "total" and v > 0},
        "suction_search": search,
        "machine": machine_info(),
    }
    write_json_atomic(args.out, report, overwrite=args.overwrite)
    print(f"grasp node: {fps:.2f} fps ({', '.join(f'{s} {v:.1f} ms' for s, v in mean.items())}); "
          f"suction search {search['speedup']:.1f}x faster than brute force; report {args.out}")
    return report


if __name__ == "__main__":
    main()
