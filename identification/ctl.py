"""Centroid triplet loss (CTL) and the centroid-reid extra terms, as pure functions plus a thin module.

Notation: embeddings are (N, D) float tensors, labels (N,) int64. A *centroid* is the plain mean of a
class's embeddings (not re-normalised). Distances: ``"euclidean"`` = ||a - b||_2 (with a tiny floor inside
the square root so the gradient at 0 is finite), ``"cosine"`` = 1 - cos(a, b).

* :func:`centroid_triplet_loss` -- anchors (pick centroids or single views) against centroids of a separate
  reference set: positive = centroid of the anchor's class, negative = centroid of another class present
  in the reference set, chosen at random (the paper) or hardest (closest). Anchors whose class has no
  reference, or with no other class to contrast, are skipped.
* :func:`leave_one_out_ctl` -- anchors and references are the same set: each embedding is an anchor, its
  positive is the centroid of the *other* embeddings of its class (leave-one-out), negatives are full
  centroids of other classes. Classes with a single embedding give no anchor.
* :func:`batch_hard_triplet_loss` -- hardest positive / hardest negative per anchor (instance level).
* :func:`label_smoothed_cross_entropy` -- on classifier logits over the BNNeck features.

Every loss averages over its valid anchors and returns an exact zero that is still connected to the graph
when no anchor is valid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

DISTANCES = ("euclidean", "cosine")
NEGATIVES = ("random", "hardest")
_EPS = 1e-12


def pairwise_distance(a: torch.Tensor, b: torch.Tensor, distance: str = "euclidean") -> torch.Tensor:
    """(M, D), (N, D) -> (M, N) distances."""
    if distance == "euclidean":
        sq = (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)
        return sq.clamp_min(_EPS).sqrt()
    if distance == "cosine":
        return 1.0 - F.normalize(a, dim=1, eps=_EPS) @ F.normalize(b, dim=1, eps=_EPS).T
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


def class_centroids(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean embedding per class: returns (classes (C,) sorted int64, centroids (C, D))."""
    classes, inverse = torch.unique(labels, sorted=True, return_inverse=True)
    sums = torch.zeros(len(classes), embeddings.shape[1], dtype=embeddings.dtype, device=embeddings.device)
    sums.index_add_(0, inverse, embeddings)
    counts = torch.bincount(inverse, minlength=len(classes)).to(embeddings.dtype).unsqueeze(1)
    return classes, sums / counts


def _zero(*tensors: torch.Tensor) -> torch.Tensor:
    return sum((t.sum() * 0.0 for t in tensors), torch.zeros(()))


def _pick_negatives(
    dist_to_centroids: torch.Tensor, allowed: torch.Tensor, negatives: str, generator: torch.Generator | None
) -> torch.Tensor:
    """Column index of the negative per row: hardest (min distance) or uniform among ``allowed`` (bool)."""
    if negatives == "hardest":
        return dist_to_centroids.masked_fill(~allowed, float("inf")).argmin(dim=1)
    if negatives == "random":
        noise = torch.rand(allowed.shape, generator=generator).to(dist_to_centroids.device)
        return noise.masked_fill(~allowed, -1.0).argmax(dim=1)
    raise ValueError(f"negatives must be one of {NEGATIVES}, got {negatives!r}")


def centroid_triplet_loss(
    anchors: torch.Tensor,
    anchor_labels: torch.Tensor,
    references: torch.Tensor,
    reference_labels: torch.Tensor,
    margin: float = 0.1,
    distance: str = "euclidean",
    negatives: str = "random",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """CTL with anchors apart from the references.

    Args:
        anchors: (A, D) one vector per query object (e.g. the mean of a pick's views, or one view).
        anchor_labels: (A,) class of each anchor.
        references: (R, D) reference-image embeddings; class centroids are computed from them.
        reference_labels: (R,).
        margin: triplet margin.
        distance: ``"euclidean"`` or ``"cosine"``.
        negatives: ``"random"`` (uniform over other classes in ``references``) or ``"hardest"``.
        generator: CPU generator for the random negatives (reproducible tests).

    Returns:
        scalar: mean over valid anchors of max(0, d(a, c_pos) - d(a, c_neg) + margin).
    """
    if len(anchors) == 0 or len(references) == 0:
        return _zero(anchors, references)
    classes, centroids = class_centroids(references, reference_labels)
    dist = pairwise_distance(anchors, centroids, distance)  # (A, C)
    is_pos = anchor_labels.unsqueeze(1) == classes.unsqueeze(0)  # (A, C)
    valid = is_pos.any(dim=1) & (~is_pos).any(dim=1)
    if not bool(valid.any()):
        return _zero(anchors, references)
    dist, is_pos = dist[valid], is_pos[valid]
    d_pos = dist[is_pos]  # exactly one positive column per valid row, in row order
    neg = _pick_negatives(dist.detach(), ~is_pos, negatives, generator)
    d_neg = dist.gather(1, neg.unsqueeze(1)).squeeze(1)
    return F.relu(d_pos - d_neg + margin).mean()


def leave_one_out_ctl(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.1,
    distance: str = "euclidean",
    negatives: str = "random",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """CTL when anchors and references are the same set (centroid-reid style).

    Each embedding i of a class with n >= 2 members is an anchor; positive = (sum_c - e_i) / (n - 1),
    negatives = full centroids of the other classes. Returns the mean hinge over valid anchors.
    """
    if len(embeddings) == 0:
        return _zero(embeddings)
    classes, inverse = torch.unique(labels, sorted=True, return_inverse=True)
    sums = torch.zeros(len(classes), embeddings.shape[1], dtype=embeddings.dtype, device=embeddings.device)
    sums.index_add_(0, inverse, embeddings)
    counts = torch.bincount(inverse, minlength=len(classes)).to(embeddings.dtype)
    valid = (counts[inverse] >= 2) & (len(classes) >= 2)
    if not bool(valid.any()):
        return _zero(embeddings)
    emb, inv = embeddings[valid], inverse[valid]
    positives = (sums[inv] - emb) / (counts[inv] - 1).unsqueeze(1)
    if distance == "euclidean":
        d_pos = (emb - positives).pow(2).sum(1).clamp_min(_EPS).sqrt()
    else:
        d_pos = 1.0 - F.cosine_similarity(emb, positives, dim=1, eps=_EPS)
    dist = pairwise_distance(emb, sums / counts.unsqueeze(1), distance)  # (A, C)
    allowed = torch.ones_like(dist, dtype=torch.bool)
    allowed[torch.arange(len(inv)), inv] = False
    neg = _pick_negatives(dist.detach(), allowed, negatives, generator)
    d_neg = dist.gather(1, neg.unsqueeze(1)).squeeze(1)
    return F.relu(d_pos - d_neg + margin).mean()


def batch_hard_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.3, distance: str = "euclidean"
) -> torch.Tensor:
    """Instance triplet with the hardest positive (farthest same-class, not itself) and hardest negative
    (closest other-class) per anchor; anchors lacking either are skipped. (N, D), (N,) -> scalar."""
    if len(embeddings) < 2:
        return _zero(embeddings)
    dist = pairwise_distance(embeddings, embeddings, distance)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos_mask, neg_mask = same & ~eye, ~same
    valid = pos_mask.any(1) & neg_mask.any(1)
    if not bool(valid.any()):
        return _zero(embeddings)
    d_pos = dist.masked_fill(~pos_mask, float("-inf")).max(1).values
    d_neg = dist.masked_fill(~neg_mask, float("inf")).min(1).values
    return F.relu(d_pos[valid] - d_neg[valid] + margin).mean()


def label_smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """Cross-entropy against (1 - eps) one-hot + eps / C uniform targets. (N, C), (N,) -> scalar."""
    if len(logits) == 0:
        return _zero(logits)
    log_probs = F.log_softmax(logits, dim=1)
    n_classes = logits.shape[1]
    targets = torch.full_like(log_probs, epsilon / n_classes)
    targets.scatter_(1, labels.unsqueeze(1), 1.0 - epsilon + epsilon / n_classes)
    return -(targets * log_probs).sum(1).mean()


@dataclass
class CTLTerms:
    """The terms of one loss evaluation (each a scalar tensor) and their weighted sum ``total``."""

    total: torch.Tensor
    ctl: torch.Tensor
    instance: torch.Tensor
    ce: torch.Tensor


class CTLCriterion(nn.Module):
    """CTL plus optional centroid-reid terms, weights from the config.

    Args:
        margin: CTL margin (paper: 0.1).
        distance: ``"euclidean"`` (paper) or ``"cosine"``.
        negatives: ``"random"`` (paper) or ``"hardest"``.
        instance_weight: weight of :func:`batch_hard_triplet_loss` (0 disables it).
        instance_margin: its margin.
        ce_weight: weight of :func:`label_smoothed_cross_entropy` on BNNeck logits (0 disables it).
        label_smoothing: epsilon of that cross-entropy.
    """

    def __init__(
        self,
        margin: float = 0.1,
        distance: str = "euclidean",
        negatives: str = "random",
        instance_weight: float = 0.0,
        instance_margin: float = 0.3,
        ce_weight: float = 0.0,
        label_smoothing: float = 0.1,
    ) -> None:
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        if negatives not in NEGATIVES:
            raise ValueError(f"negatives must be one of {NEGATIVES}, got {negatives!r}")
        self.margin, self.distance, self.negatives = margin, distance, negatives
        self.instance_weight, self.instance_margin = instance_weight, instance_margin
        self.ce_weight, self.label_smoothing = ce_weight, label_smoothing

    def forward(
        self,
        anchors: torch.Tensor,
        anchor_labels: torch.Tensor,
        references: torch.Tensor,
        reference_labels: torch.Tensor,
        instance_embeddings: torch.Tensor | None = None,
        instance_labels: torch.Tensor | None = None,
        logits: torch.Tensor | None = None,
        logit_labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> CTLTerms:
        """Anchors (A, D) vs reference centroids; instance terms on (N, D) embeddings; CE on (N, C) logits."""
        ctl = centroid_triplet_loss(
            anchors, anchor_labels, references, reference_labels, self.margin, self.distance, self.negatives, generator
        )
        zero = ctl * 0.0
        inst = zero
        if self.instance_weight > 0 and instance_embeddings is not None and instance_labels is not None:
            inst = batch_hard_triplet_loss(instance_embeddings, instance_labels, self.instance_margin, self.distance)
        ce = zero
        if self.ce_weight > 0 and logits is not None and logit_labels is not None:
            ce = label_smoothed_cross_entropy(logits, logit_labels, self.label_smoothing)
        total = ctl + self.instance_weight * inst + self.ce_weight * ce
        return CTLTerms(total=total, ctl=ctl, instance=inst, ce=ce)
