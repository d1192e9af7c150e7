"""COCO detection/segmentation metrics with the BOP ignore rule, in plain NumPy.

This reproduces pycocotools' ``COCOeval`` (``evaluateImg`` + ``accumulate`` + ``summarize``) for
non-crowd ground truth, with one deliberate difference that the BOP toolkit obtains from a patched
cocoapi: a ground-truth instance flagged ``ignore`` (BOP: ``visib_fract < 0.1``) is honoured. Stock
pycocotools overwrites ``ignore`` with ``iscrowd`` and so counts such instances as misses. Here an
ignored GT is never required (it is not in the recall denominator) and a detection matched to it
counts neither as a true nor as a false positive.

Everything is per (image, category); metrics are averaged over categories with at least one
non-ignored GT, exactly as COCO does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}


@dataclass
class EvalInstance:
    """One ground-truth or detected instance of an image.

    Attributes:
        category: object id.
        area: pixels of the (visible) mask for GT and segm detections; box area for bbox detections.
        score: detection confidence (ignored for GT).
        ignore: GT only: True if the instance must be neither found nor penalised (visib_fract < 0.1).
    """

    category: int
    area: float
    score: float = 1.0
    ignore: bool = False


@dataclass
class ImageEval:
    """Ground truth and detections of one image plus their pairwise IoU (detections x GT)."""

    gts: list[EvalInstance]
    dets: list[EvalInstance]
    ious: np.ndarray  # (n_dets, n_gts) float64


@dataclass
class CocoScores:
    """Summary metrics (fractions in [0, 1]; -1 when undefined) and the raw arrays."""

    stats: dict[str, float]
    precision: np.ndarray = field(repr=False)  # (T, R, K, A, M)
    recall: np.ndarray = field(repr=False)  # (T, K, A, M)
    categories: list[int] = field(default_factory=list)


def _evaluate_image_category(
    gts: list[EvalInstance],
    dets: list[EvalInstance],
    ious: np.ndarray,
    area_rng: tuple[float, float],
    max_det: int,
) -> dict | None:
    """Match detections to GT for every IoU threshold (pycocotools ``evaluateImg`` semantics)."""
    if not gts and not dets:
        return None
    g_ignore = np.array([g.ignore or g.area < area_rng[0] or g.area > area_rng[1] for g in gts], dtype=bool)
    g_order = np.argsort(g_ignore, kind="mergesort")
    g_ignore = g_ignore[g_order]
    d_order = np.argsort([-d.score for d in dets], kind="mergesort")[:max_det]
    dets_sorted = [dets[i] for i in d_order]
    ious_sorted = ious[np.ix_(d_order, g_order)] if len(d_order) and len(g_order) else np.zeros((len(d_order), len(g_order)))
    T, G, D = len(IOU_THRESHOLDS), len(gts), len(dets_sorted)
    gt_matched = np.zeros((T, G), dtype=bool)
    dt_matched = np.zeros((T, D), dtype=bool)
    dt_ignore = np.zeros((T, D), dtype=bool)
    for tind, t in enumerate(IOU_THRESHOLDS):
        for dind in range(D):
            iou = min(t, 1 - 1e-10)
            m = -1
            for gind in range(G):
                if gt_matched[tind, gind]:
                    continue
                # GT are sorted with non-ignored first: once matched to a regular GT, stop at ignored ones.
                if m > -1 and not g_ignore[m] and g_ignore[gind]:
                    break
                if ious_sorted[dind, gind] < iou:
                    continue
                iou = ious_sorted[dind, gind]
                m = gind
            if m == -1:
                continue
            dt_ignore[tind, dind] = g_ignore[m]
            dt_matched[tind, dind] = True
            gt_matched[tind, m] = True
    d_out = np.array([d.area < area_rng[0] or d.area > area_rng[1] for d in dets_sorted], dtype=bool)
    dt_ignore |= ~dt_matched & d_out[None, :]
    return {
        "scores": np.array([d.score for d in dets_sorted], dtype=np.float64),
        "dt_matched": dt_matched,
        "dt_ignore": dt_ignore,
        "num_gt": int((~g_ignore).sum()),
    }


def evaluate(images: Sequence[ImageEval], categories: Sequence[int] | None = None) -> CocoScores:
    """COCO AP/AR over ``images`` (pycocotools semantics, plus the GT ``ignore`` rule).

    Args:
        images: per-image GT, detections and IoU matrix (rows: detections, columns: GT).
        categories: categories to average over (default: every category seen in GT or detections).

    Returns:
        :class:`CocoScores` with ``stats`` keys AP, AP50, AP75, AP_small, AP_medium, AP_large,
        AR1, AR10, AR100, AR_small, AR_medium, AR_large.
    """
    if categories is None:
        cats: set[int] = set()
        for im in images:
            cats.update(g.category for g in im.gts)
            cats.update(d.category for d in im.dets)
        categories = sorted(cats)
    cat_index = {c: k for k, c in enumerate(categories)}
    # Split every image by category once.
    per_cat: dict[int, list[tuple[list[EvalInstance], list[EvalInstance], np.ndarray]]] = defaultdict(list)
    for im in images:
        gi = defaultdict(list)
        di = defaultdict(list)
        for j, g in enumerate(im.gts):
            gi[g.category].append(j)
        for j, d in enumerate(im.dets):
            di[d.category].append(j)
        for c in set(gi) | set(di):
            if c not in cat_index:
                continue
            g_idx, d_idx = gi.get(c, []), di.get(c, [])
            sub = im.ious[np.ix_(d_idx, g_idx)] if d_idx and g_idx else np.zeros((len(d_idx), len(g_idx)))
            per_cat[c].append(([im.gts[j] for j in g_idx], [im.dets[j] for j in d_idx], sub))

    T, R, K, A, M = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(categories), len(AREA_RANGES), len(MAX_DETS)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    max_det_all = MAX_DETS[-1]
    for c, k in cat_index.items():
        for a, area_rng in enumerate(AREA_RANGES.values()):
            raw = [_evaluate_image_category(g, d, iou, area_rng, max_det_all) for g, d, iou in per_cat.get(c, [])]
            evals = [e for e in raw if e is not None]
            if not evals:
                continue
            npig = sum(e["num_gt"] for e in evals)
            if npig == 0:
                continue
            for m, max_det in enumerate(MAX_DETS):
                scores = np.concatenate([e["scores"][:max_det] for e in evals])
                order = np.argsort(-scores, kind="mergesort")
                dtm = np.concatenate([e["dt_matched"][:, :max_det] for e in evals], axis=1)[:, order]
                dtig = np.concatenate([e["dt_ignore"][:, :max_det] for e in evals], axis=1)[:, order]
                tps = np.logical_and(dtm, ~dtig)
                fps = np.logical_and(~dtm, ~dtig)
                tp_sum = np.cumsum(tps, axis=1).astype(np.float64)
                fp_sum = np.cumsum(fps, axis=1).astype(np.float64)
                for t in range(T):
                    tp, fp = tp_sum[t], fp_sum[t]
                    nd = len(tp)
                    rc = tp / npig
                    pr = tp / (fp + tp + np.spacing(1))
                    recall[t, k, a, m] = rc[-1] if nd else 0
                    pr = pr.tolist()
                    for i in range(nd - 1, 0, -1):
                        if pr[i] > pr[i - 1]:
                            pr[i - 1] = pr[i]
                    inds = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
                    q = np.zeros(R)
                    for ri, pi in enumerate(inds):
                        if pi < nd:
                            q[ri] = pr[pi]
                    precision[t, :, k, a, m] = q
    return CocoScores(stats=_summarize(precision, recall), precision=precision, recall=recall, categories=list(categories))


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def _summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """The 12 COCO numbers (pycocotools ``summarize``)."""
    areas = list(AREA_RANGES)
    m100 = MAX_DETS.index(100)

    def ap(iou: float | None = None, area: str = "all") -> float:
        p = precision[:, :, :, areas.index(area), m100]
        if iou is not None:
            p = p[np.isclose(IOU_THRESHOLDS, iou)]
        return _mean_valid(p)

    def ar(max_det: int, area: str = "all") -> float:
        return _mean_valid(recall[:, :, areas.index(area), MAX_DETS.index(max_det)])

    return {
        "AP": ap(),
        "AP50": ap(0.5),
        "AP75": ap(0.75),
        "AP_small": ap(area="small"),
        "AP_medium": ap(area="medium"),
        "AP_large": ap(area="large"),
        "AR1": ar(1),
        "AR10": ar(10),
        "AR100": ar(100),
        "AR_small": ar(100, "small"),
        "AR_medium": ar(100, "medium"),
        "AR_large": ar(100, "large"),
    }
