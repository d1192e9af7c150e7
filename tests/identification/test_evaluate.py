import shutil

import numpy as np
import pytest
import torch

from identification.armbench import load_armbench
from identification.embed import ImageEmbedder
from identification.evaluate import evaluate_armbench, rank_products, recall_at_k
from vision.common.errors import UserError


def test_recall_at_k_hand_computed() -> None:
    rankings = [["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"], [], ["x"]]
    truths = ["a", "a", "a", "a", "a"]
    r = recall_at_k(rankings, truths)
    assert r == {"recall@1": 1 / 5, "recall@2": 2 / 5, "recall@3": 3 / 5}
    assert recall_at_k([], []) == {"recall@1": 0.0, "recall@2": 0.0, "recall@3": 0.0}


def test_rank_products_hand_computed_and_ties() -> None:
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    gallery = {
        "p2": np.array([[1.0, 0.0]]),            # best view 1.0 ; centroid cos((.5,.5),(1,0)) = 0.7071
        "p1": np.array([[1.0, 0.0]]),            # identical to p2: tie, p1 first by id
        "p3": np.array([[1.0, 1.0], [1.0, 1.0]]),  # best view 0.7071 ; centroid 1.0
        "p0": np.array([[-1.0, 0.0]]),           # best view 0.0 ; centroid -0.7071
    }
    abs_rank = rank_products(q, gallery, "abs")
    assert [p for p, _ in abs_rank] == ["p1", "p2", "p3", "p0"]
    assert [s for _, s in abs_rank] == pytest.approx([1.0, 1.0, 0.70710678, 0.0])
    cen = rank_products(q, gallery, "centroid")
    assert [p for p, _ in cen] == ["p3", "p1", "p2", "p0"]
    assert [s for _, s in cen] == pytest.approx([1.0, 0.70710678, 0.70710678, -0.70710678])
    with pytest.raises(UserError):
        rank_products(q, gallery, "median")


def _brute_force(data, model, protocol, matching):
    """Independent path: embed each image alone, rank with loops, count hits."""
    from identification.armbench import read_rgb
    from identification.embed import to_tensor

    def emb(path):
        img = read_rgb(path)
        if img is None:
            return None
        with torch.no_grad():
            return model(to_tensor([img], model.input_size))[0].double().numpy()

    hits = {1: 0, 2: 0, 3: 0}
    n = 0
    objects = set(data.objects)
    for pick in data.picks:
        qs = [e for e in (emb(p) for p in pick.query_views(protocol)) if e is not None]
        if not qs:
            continue
        n += 1
        scores = []
        for pid in sorted(set(pick.container)):
            if pid not in objects:
                continue
            refs = [e for e in (emb(r) for r in data.references[pid]) if e is not None]
            if not refs:
                continue
            if matching == "abs":
                s = max(float(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) for a in qs for b in refs)
            else:
                qa, ra = np.mean(qs, 0), np.mean(refs, 0)
                s = float(qa @ ra / (np.linalg.norm(qa) * np.linalg.norm(ra)))
            scores.append((-s, pid))
        ranked = [pid for _, pid in sorted(scores)]
        for k in hits:
            hits[k] += pick.gt in ranked[:k]
    return {f"recall@{k}": v / n for k, v in hits.items()}, n


@pytest.mark.parametrize("protocol", ["pre-pick", "post-pick"])
@pytest.mark.parametrize("matching", ["abs", "centroid"])
def test_evaluate_matches_brute_force(armbench_root, embedder_pool, protocol, matching) -> None:
    data = load_armbench(armbench_root, "test")
    report = evaluate_armbench(data, ImageEmbedder(embedder_pool, batch_size=7), protocol, matching, progress=False)
    want, n = _brute_force(data, embedder_pool, protocol, matching)
    assert report["picks_evaluated"] == n == len(data.picks)
    for key, value in want.items():
        assert report[key] == pytest.approx(value, abs=1e-9), key
    for key in ("protocol", "matching", "picks_skipped", "images_skipped"):
        assert key in report
    assert report["recall@1"] <= report["recall@2"] <= report["recall@3"]


def test_evaluate_counts_corrupt_images_and_missing_gt(armbench_root, embedder_pool, tmp_path) -> None:
    root = tmp_path / "ab"
    shutil.copytree(armbench_root, root)
    data = load_armbench(root, "test")
    pick = data.picks[0]
    pick.views["PickRGB.jpg"].write_bytes(b"\xff\xd8 not a jpeg")  # pre-pick query unreadable -> pick skipped
    gt_refs = data.references[data.picks[1].gt]
    for r in gt_refs:
        r.write_bytes(b"junk")  # the GT has no readable reference -> miss, still evaluated
    report = evaluate_armbench(data, ImageEmbedder(embedder_pool), "pre-pick", "centroid", progress=False)
    assert report["picks_skipped"] == 1 and report["skip_reasons"] == {"query_images_unreadable": 1}
    assert report["images_skipped"] == 1 + len(gt_refs)
    assert report["picks_evaluated"] == len(data.picks) - 1
    assert report["gt_not_in_gallery"] >= 1
    want, _ = _brute_force(data, embedder_pool, "pre-pick", "centroid")
    assert report["recall@1"] == pytest.approx(want["recall@1"])


def test_gallery_is_container_products_of_the_split_with_references() -> None:
    # Hand-made split: D is a product of the *other* split (its reference exists and matches the query
    # best), C has no reference image: neither may enter a gallery; a GT outside the gallery is a miss.
    from pathlib import Path

    from identification.armbench import ArmBenchSplit, Pick
    from identification.evaluate import score_picks

    P = Path
    emb = {P("a1"): np.array([1.0, 0.0, 0.0]), P("b1"): np.array([0.0, 1.0, 0.0]), P("d1"): np.array([0.0, 0.0, 1.0]),
           P("q1"): np.array([0.3, 0.1, 0.95]), P("q2"): np.array([0.1, 1.0, 0.0]), P("q3"): np.array([1.0, 0.0, 0.0]),
           P("q3b"): np.array([0.0, 1.0, 0.05])}
    picks = [Pick("1", "A", ["D", "C", "B", "A"], {"PickRGB.jpg": P("q1")}),
             Pick("2", "C", ["A", "B", "C"], {"PickRGB.jpg": P("q2")}),
             Pick("3", "E", ["A", "B"], {"PickRGB.jpg": P("q3"), "ToteWallRGB.jpg": P("q3b")})]
    data = ArmBenchSplit(P("."), "test", picks, ["A", "B", "C"], {"A": [P("a1")], "B": [P("b1")], "C": [], "D": [P("d1")]})
    r = score_picks(data, "pre-pick", "abs", emb)
    assert (r["recall@1"], r["recall@2"], r["recall@3"]) == (pytest.approx(1 / 3),) * 3
    assert r["gt_not_in_gallery"] == 2 and r["mean_gallery_size"] == 2.0 and r["picks_evaluated"] == 3
    # post-pick uses every view present: pick 3's second view does not make E findable, recall unchanged
    assert score_picks(data, "post-pick", "centroid", emb)["recall@1"] == pytest.approx(1 / 3)
