"""Batch sampling for CTL training: P picks with distinct products per batch, up to K references each.

:class:`DistinctLabelBatchSampler` yields index lists for a map-style dataset of picks. Each epoch it
shuffles the picks and deals them in *rounds*: round j holds the j-th occurrence of every product, so
within a round all products differ; batches are consecutive chunks of the rounds, which keeps products
distinct inside a batch except where a batch straddles two rounds (rare: only frequent products). Every
pick appears exactly once per epoch.

:func:`choose_up_to_k` selects the reference images of a product: all of them if it has K or fewer
(none if it has zero -- such picks still serve as instance-level examples but give no CTL anchor).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


def choose_up_to_k(n_available: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of min(n_available, k) distinct items chosen uniformly, sorted ascending (int64)."""
    if n_available < 0 or k < 0:
        raise ValueError("n_available and k must be >= 0")
    if n_available <= k:
        return np.arange(n_available, dtype=np.int64)
    return np.sort(rng.choice(n_available, size=k, replace=False)).astype(np.int64)


def distinct_label_batches(
    labels: Sequence[Hashable], batch_size: int, rng: np.random.Generator, drop_last: bool = False
) -> list[list[int]]:
    """One epoch of batches (lists of indices into ``labels``); see the module docstring."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = rng.permutation(len(labels))
    rounds: dict[int, list[int]] = defaultdict(list)
    seen: dict[Hashable, int] = defaultdict(int)
    for i in order:
        lab = labels[int(i)]
        rounds[seen[lab]].append(int(i))
        seen[lab] += 1
    flat = [i for r in sorted(rounds) for i in rounds[r]]
    batches = [flat[s : s + batch_size] for s in range(0, len(flat), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


class DistinctLabelBatchSampler(Sampler[list[int]]):
    """Batch sampler over items with product ``labels``; reshuffles every epoch (``set_epoch``).

    Args:
        labels: product id (or index) per dataset item.
        batch_size: P, picks per batch.
        seed: base seed; epoch e uses ``seed + e``.
        drop_last: drop a final incomplete batch.
    """

    def __init__(self, labels: Sequence[Hashable], batch_size: int, seed: int = 0, drop_last: bool = False) -> None:
        self.labels = list(labels)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1  # a fresh order next time even if nobody calls set_epoch
        yield from distinct_label_batches(self.labels, self.batch_size, rng, self.drop_last)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
