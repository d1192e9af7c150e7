from collections import Counter

import numpy as np
import pytest
import torch

from identification.armbench import load_armbench
from identification.data import PickTrainDataset, collate_picks
from identification.sampler import DistinctLabelBatchSampler, choose_up_to_k, distinct_label_batches


def test_choose_up_to_k() -> None:
    rng = np.random.default_rng(0)
    assert choose_up_to_k(0, 4, rng).tolist() == []
    assert choose_up_to_k(3, 4, rng).tolist() == [0, 1, 2]
    picks = choose_up_to_k(6, 4, rng)
    assert len(picks) == 4 and len(set(picks.tolist())) == 4 and picks.max() < 6
    with pytest.raises(ValueError):
        choose_up_to_k(-1, 2, rng)


def test_batches_cover_every_item_once_with_distinct_labels() -> None:
    labels = ["a"] * 5 + ["b"] * 3 + [f"u{i}" for i in range(12)]
    batches = distinct_label_batches(labels, 4, np.random.default_rng(1))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(labels)))
    assert all(len(b) <= 4 for b in batches)
    dupes = sum(len(b) - len({labels[i] for i in b}) for b in batches)
    assert dupes <= 2  # only where a batch straddles two rounds
    s = DistinctLabelBatchSampler(labels, 4, seed=3, drop_last=True)
    e0, e1 = list(s), list(s)
    assert e0 != e1 and len(e0) == len(s) == len(labels) // 4
    s.set_epoch(0)
    assert list(s) == e0


def test_pick_dataset_and_collate(armbench_root) -> None:
    data = load_armbench(armbench_root, "train")
    ds = PickTrainDataset(data, image_size=32, refs_per_product=2)
    items = [ds[i] for i in range(4)]
    batch = collate_picks(items)
    n_views = sum(len(it["views"]) for it in items)
    n_refs = sum(len(it["refs"]) for it in items)
    assert batch["images"].shape == (n_views + n_refs, 3, 32, 32)
    assert batch["images"].dtype == torch.float32 and 0 <= batch["images"].min() and batch["images"].max() <= 1
    assert int(batch["is_ref"].sum()) == n_refs and int(batch["is_pick_view"].sum()) == 4
    assert Counter(batch["owner"].tolist()) == Counter({j: len(it["views"]) + len(it["refs"]) for j, it in enumerate(items)})
    for j, it in enumerate(items):
        assert batch["pick_labels"][j] == it["label"] == ds.class_index[data.picks[j].gt]
        assert len(it["refs"]) == min(2, len(data.references[data.picks[j].gt]))
