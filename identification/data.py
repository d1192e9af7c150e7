"""Torch datasets over ArmBench splits: training picks (views + references) and evaluation images.

:class:`PickTrainDataset` item = one pick: its readable views (PickRGB first) and up to K reference images
of its ground-truth product, each resized to ``image_size`` and optionally augmented (TrivialAugmentWide),
as (3, S, S) float32 in [0, 1]. :func:`collate_picks` flattens a batch into one image tensor plus index
vectors so the model runs once per step. :class:`ImageListDataset` serves evaluation images by path.
Unreadable images are skipped and counted (``unreadable`` in items, summed by the Lightning module).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from identification.armbench import ArmBenchSplit, read_rgb
from identification.sampler import choose_up_to_k


def load_image(path: Path, size: int, augment: Any | None = None) -> torch.Tensor | None:
    """Read ``path`` -> (3, size, size) float32 in [0, 1], or None if unreadable. ``augment`` acts on uint8."""
    img = read_rgb(path)
    if img is None:
        return None
    if img.shape[:2] != (size, size):  # the same resize as ImageEmbedder (evaluation and run time)
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    if augment is not None:
        x = augment(x)
    return x.float().div_(255.0)


class PickTrainDataset(Dataset):
    """Training picks of ``data`` whose ground truth is in ``classes``.

    Args:
        data: the loaded training split.
        image_size: side S of the square images given to the model.
        refs_per_product: K, reference images per pick (all of them if the product has fewer).
        augment: a callable on (3, S, S) uint8 tensors (e.g. ``TrivialAugmentWide()``) or None.
        seed: base seed of the reference selection (varied per item and call).
    """

    def __init__(
        self, data: ArmBenchSplit, image_size: int, refs_per_product: int = 4, augment: Any | None = None, seed: int = 0
    ) -> None:
        self.data = data
        self.classes = sorted({p.gt for p in data.picks})
        self.class_index = {pid: i for i, pid in enumerate(self.classes)}
        self.picks = data.picks
        self.labels = [p.gt for p in self.picks]
        self.image_size = image_size
        self.k = refs_per_product
        self.augment = augment
        self.seed = seed
        self._calls = 0

    def __len__(self) -> int:
        return len(self.picks)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pick = self.picks[index]
        self._calls += 1
        rng = np.random.default_rng([self.seed, index, self._calls])
        views: list[torch.Tensor] = []
        unreadable, first_is_pick = 0, False
        for name, path in pick.views.items():
            x = load_image(path, self.image_size, self.augment)
            if x is None:
                unreadable += 1
                continue
            first_is_pick = first_is_pick or (name == "PickRGB.jpg" and not views)
            views.append(x)
        refs = []
        available = self.data.references.get(pick.gt, [])
        for i in choose_up_to_k(len(available), self.k, rng):
            x = load_image(available[int(i)], self.image_size, self.augment)
            if x is None:
                unreadable += 1
            else:
                refs.append(x)
        return {"views": views, "refs": refs, "label": self.class_index[pick.gt],
                "first_is_pick": first_is_pick, "unreadable": unreadable}


def collate_picks(items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Flatten picks into one batch.

    Returns:
        images (N, 3, S, S) float32; owner (N,) int64 pick position in the batch; is_ref (N,) bool;
        is_pick_view (N,) bool (the PickRGB image of its pick); labels (N,) int64 product class per image;
        pick_labels (P,) int64; unreadable () int64.
    """
    images, owner, is_ref, is_pick, labels = [], [], [], [], []
    for j, item in enumerate(items):
        for v, x in enumerate(item["views"]):
            images.append(x)
            owner.append(j)
            is_ref.append(False)
            is_pick.append(v == 0 and item["first_is_pick"])
            labels.append(item["label"])
        for x in item["refs"]:
            images.append(x)
            owner.append(j)
            is_ref.append(True)
            is_pick.append(False)
            labels.append(item["label"])
    size = items[0]["views"][0].shape[-1] if items and items[0]["views"] else 1
    return {
        "images": torch.stack(images) if images else torch.zeros(0, 3, size, size),
        "owner": torch.tensor(owner, dtype=torch.int64),
        "is_ref": torch.tensor(is_ref, dtype=torch.bool),
        "is_pick_view": torch.tensor(is_pick, dtype=torch.bool),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "pick_labels": torch.tensor([it["label"] for it in items], dtype=torch.int64),
        "unreadable": torch.tensor(sum(it["unreadable"] for it in items), dtype=torch.int64),
    }


class ImageListDataset(Dataset):
    """Images by path for evaluation: item = (image (3, S, S) float32 or zeros, ok bool, index int)."""

    def __init__(self, paths: Sequence[Path], image_size: int) -> None:
        self.paths = list(paths)
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, bool, int]:
        x = load_image(self.paths[index], self.image_size)
        if x is None:
            return torch.zeros(3, self.image_size, self.image_size), False, index
        return x, True, index
