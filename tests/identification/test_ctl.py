import math

import pytest
import torch

from identification.ctl import (
    CTLCriterion,
    batch_hard_triplet_loss,
    centroid_triplet_loss,
    class_centroids,
    label_smoothed_cross_entropy,
    leave_one_out_ctl,
)


def _dist(a, b, distance):
    if distance == "euclidean":
        return math.sqrt(max(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)), 1e-12))
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return 1.0 - dot / (na * nb)


def _mean(rows):
    return [sum(col) / len(rows) for col in zip(*rows, strict=True)]


def _loop_ctl(anchors, alabels, refs, rlabels, margin, distance):
    """Hardest-negative CTL with plain Python loops."""
    cents = {c: _mean([r for r, lr in zip(refs, rlabels, strict=True) if lr == c]) for c in set(rlabels)}
    losses = []
    for a, la in zip(anchors, alabels, strict=True):
        if la not in cents or len(cents) < 2:
            continue
        dp = _dist(a, cents[la], distance)
        dn = min(_dist(a, cents[c], distance) for c in cents if c != la)
        losses.append(max(0.0, dp - dn + margin))
    return sum(losses) / len(losses) if losses else 0.0


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    anchors = torch.randn(7, 5, generator=g, dtype=torch.float64)
    alabels = torch.tensor([0, 1, 2, 2, 3, 9, 1])  # class 9 has no references: skipped
    refs = torch.randn(9, 5, generator=g, dtype=torch.float64)
    rlabels = torch.tensor([0, 0, 1, 2, 2, 2, 3, 3, 4])  # classes 1, 4 have one image each
    return anchors, alabels, refs, rlabels


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("margin", [0.1, 5.0])
def test_ctl_hardest_matches_loops(distance, margin) -> None:
    a, al, r, rl = _data()
    got = centroid_triplet_loss(a, al, r, rl, margin, distance, "hardest")
    want = _loop_ctl(a.tolist(), al.tolist(), r.tolist(), rl.tolist(), margin, distance)
    assert got.item() == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert want > 0


def test_ctl_random_negatives_are_other_classes_and_average_to_loop() -> None:
    a, al, r, rl = _data(1)
    margin = 10.0  # every hinge active: loss is linear, so the expectation over negatives is checkable
    cents = {c: _mean([x for x, lx in zip(r.tolist(), rl.tolist(), strict=True) if lx == c]) for c in set(rl.tolist())}
    want = []
    for x, lx in zip(a.tolist(), al.tolist(), strict=True):
        if lx not in cents:
            continue
        dp = _dist(x, cents[lx], "euclidean")
        dn = sum(_dist(x, cents[c], "euclidean") for c in cents if c != lx) / (len(cents) - 1)
        want.append(dp - dn + margin)
    g = torch.Generator().manual_seed(0)
    vals = [centroid_triplet_loss(a, al, r, rl, margin, "euclidean", "random", g).item() for _ in range(3000)]
    assert sum(vals) / len(vals) == pytest.approx(sum(want) / len(want), rel=2e-2)
    # every random draw lies between the all-hardest and the all-easiest choice
    hardest = centroid_triplet_loss(a, al, r, rl, margin, "euclidean", "hardest").item()
    assert max(vals) <= hardest + 1e-9


def test_ctl_no_valid_anchor_is_zero_with_grad() -> None:
    a = torch.randn(3, 4, requires_grad=True)
    r = torch.randn(2, 4, requires_grad=True)
    loss = centroid_triplet_loss(a, torch.tensor([0, 0, 0]), r, torch.tensor([0, 0]))  # one class only
    assert loss.item() == 0.0
    loss.backward()
    assert a.grad is not None and torch.all(a.grad == 0)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_leave_one_out_matches_loops(distance) -> None:
    g = torch.Generator().manual_seed(3)
    emb = torch.randn(8, 4, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3])  # class 2 has one image: no anchor
    got = leave_one_out_ctl(emb, labels, 0.5, distance, "hardest")
    e, lab = emb.tolist(), labels.tolist()
    losses = []
    for i, (x, lx) in enumerate(zip(e, lab, strict=True)):
        others = [y for j, (y, ly) in enumerate(zip(e, lab, strict=True)) if ly == lx and j != i]
        if not others:
            continue
        dp = _dist(x, _mean(others), distance)
        dn = min(_dist(x, _mean([y for y, ly in zip(e, lab, strict=True) if ly == c]), distance) for c in set(lab) if c != lx)
        losses.append(max(0.0, dp - dn + 0.5))
    assert len(losses) == 7
    assert got.item() == pytest.approx(sum(losses) / len(losses), rel=1e-9)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_batch_hard_matches_loops(distance) -> None:
    g = torch.Generator().manual_seed(4)
    emb = torch.randn(7, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3])  # classes 2 and 3: one image, no positive
    got = batch_hard_triplet_loss(emb, labels, 0.3, distance)
    e, lab = emb.tolist(), labels.tolist()
    losses = []
    for i in range(7):
        pos = [_dist(e[i], e[j], distance) for j in range(7) if j != i and lab[j] == lab[i]]
        neg = [_dist(e[i], e[j], distance) for j in range(7) if lab[j] != lab[i]]
        if pos and neg:
            losses.append(max(0.0, max(pos) - min(neg) + 0.3))
    assert got.item() == pytest.approx(sum(losses) / len(losses), rel=1e-9)


def test_label_smoothed_ce_matches_formula_and_torch() -> None:
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(4, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 5, 2, 2])
    eps = 0.2
    want = 0.0
    for row, y in zip(logits.tolist(), labels.tolist(), strict=True):
        lse = math.log(sum(math.exp(v) for v in row))
        logp = [v - lse for v in row]
        want += -sum(((1 - eps) * (k == y) + eps / 6) * lp for k, lp in enumerate(logp))
    got = label_smoothed_cross_entropy(logits, labels, eps)
    assert got.item() == pytest.approx(want / 4, rel=1e-9)
    assert got.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, labels, label_smoothing=eps).item(), rel=1e-9)


def test_class_centroids_and_criterion_weights() -> None:
    emb = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0]])
    classes, cents = class_centroids(emb, torch.tensor([5, 5, 2]))
    assert classes.tolist() == [2, 5] and cents.tolist() == [[0.0, 4.0], [2.0, 1.0]]
    a, al, r, rl = (t.float() if t.is_floating_point() else t for t in _data())
    logits = torch.randn(9, 5)
    crit = CTLCriterion(margin=0.1, negatives="hardest", instance_weight=0.5, ce_weight=2.0)
    terms = crit(a, al, r, rl, r, rl, logits, rl)
    assert terms.total.item() == pytest.approx((terms.ctl + 0.5 * terms.instance + 2.0 * terms.ce).item(), rel=1e-6)
    assert terms.instance.item() > 0 and terms.ce.item() > 0
    plain = CTLCriterion(margin=0.1, negatives="hardest")(a, al, r, rl, r, rl, logits, rl)
    assert plain.total.item() == pytest.approx(plain.ctl.item()) and plain.ce.item() == 0.0
    with pytest.raises(ValueError):
        CTLCriterion(distance="manhattan")
