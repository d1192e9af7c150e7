"""Equal-count quantile chunking on known arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from videosr.chunking import chunk_thresholds, quantile_chunks
from vision.common.errors import UserError


def test_known_split_hardest_first() -> None:
    psnr = np.array([[30.0, 20.0, 40.0], [25.0, 35.0, 10.0]])
    # sorted ascending: 10, 20, 25, 30, 35, 40 -> k=2: {10,20,25} chunk 0, {30,35,40} chunk 1
    np.testing.assert_array_equal(quantile_chunks(psnr, 2), [[1, 0, 1], [0, 1, 0]])
    # k=3: {10,20} 0, {25,30} 1, {35,40} 2
    np.testing.assert_array_equal(quantile_chunks(psnr, 3), [[1, 0, 2], [1, 2, 0]])
    np.testing.assert_array_equal(quantile_chunks(psnr, 1), np.zeros((2, 3)))
    np.testing.assert_array_equal(quantile_chunks(psnr, 6), [[3, 1, 5], [2, 4, 0]])


def test_counts_ties_and_inf() -> None:
    rng = np.random.default_rng(0)
    psnr = rng.normal(30, 3, size=(5, 4, 7))
    for k in (2, 3, 4, 7):
        labels = quantile_chunks(psnr, k)
        counts = np.bincount(labels.ravel(), minlength=k)
        assert counts.max() - counts.min() <= 1 and counts.sum() == psnr.size
        # every patch of chunk c is at most as easy as every patch of chunk c+1
        for c in range(k - 1):
            assert psnr[labels == c].max() <= psnr[labels == c + 1].min()
    ties = np.array([5.0, 5.0, 5.0, 5.0])
    np.testing.assert_array_equal(quantile_chunks(ties, 2), [0, 0, 1, 1])  # stable: by index
    with_inf = np.array([math.inf, 10.0, 20.0, 30.0])
    np.testing.assert_array_equal(quantile_chunks(with_inf, 2), [1, 0, 0, 1])
    stats = chunk_thresholds(with_inf, quantile_chunks(with_inf, 2), 2)
    assert stats[0] == {"chunk": 0, "patches": 2, "psnr_min": 10.0, "psnr_mean": 15.0, "psnr_max": 20.0}


def test_too_many_chunks() -> None:
    with pytest.raises(UserError, match="larger than the number of patches"):
        quantile_chunks(np.zeros((1, 2, 2)), 5)
    with pytest.raises(UserError):
        quantile_chunks(np.zeros(3), 0)
