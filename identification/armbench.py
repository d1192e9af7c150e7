"""Reader for the ArmBench object-identification dataset (``armbench-object-id-0.1``).

Layout::

    <root>/Picks/<pick_id>/PickRGB.jpg [ToteWallRGB.jpg OnArmLowRGB.jpg FarTrayRGB.jpg]
                          container.json   (dict keyed by product id)
                          annotation.json  ({"GT_ID": "<product id>", ...})
    <root>/Reference_Images/<product_id>/1.jpg ... N.jpg   (0 <= N <= 6)
    <root>/train-test-split.pickle  {"trainset", "testset", "trainset-objects", "testset-objects"}: lists of str

The split file is a pickle; :func:`load_split` reads it with :class:`RestrictedUnpickler`, which admits only
the opcodes of plain containers, strings and numbers and refuses every global (class or function). Picks
whose JSON cannot be read, whose folder is missing, or that lack ``PickRGB.jpg`` are skipped and counted in
:attr:`ArmBenchSplit.skipped`; a missing top-level folder or a bad split file is a :class:`UserError`.

:func:`hold_out_products` carves a validation split of *unseen* products out of the training split (the
test split must not be used for model selection).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vision.common.errors import UserError, require_dir, require_file

PICK_VIEW = "PickRGB.jpg"
AFTER_PICK_VIEWS = ("ToteWallRGB.jpg", "OnArmLowRGB.jpg", "FarTrayRGB.jpg")
SPLIT_FILE = "train-test-split.pickle"
SPLIT_KEYS = ("trainset", "testset", "trainset-objects", "testset-objects")
SPLITS = {"train": ("trainset", "trainset-objects"), "test": ("testset", "testset-objects")}
HELD_OUT = "held-out"
VAL_GALLERIES = ("all", "held-out")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global: only dict, list, tuple, set, str, bytes, int, float, bool, None
    can come out (those are built by opcodes, never by ``find_class``)."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: only plain containers and strings")


def restricted_loads(data: bytes) -> object:
    """``pickle.loads`` through :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def load_split(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Read ``train-test-split.pickle`` safely; returns the four lists of str (UserError otherwise)."""
    p = require_file(path, "split file")
    try:
        data = restricted_loads(p.read_bytes())
    except pickle.UnpicklingError as err:
        raise UserError(f"refused: {err}", p) from err
    except Exception as err:  # truncated or not a pickle at all
        raise UserError(f"not a readable pickle ({type(err).__name__}: {err})", p) from err
    if not isinstance(data, dict):
        raise UserError(f"split must be a dict, got {type(data).__name__}", p)
    out: dict[str, list[str]] = {}
    for key in SPLIT_KEYS:
        value = data.get(key)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise UserError(f"split key {key!r} must be a list of str", p)
        out[key] = list(value)
    return out


@dataclass
class Pick:
    """One pick: ``views`` maps file name (``PickRGB.jpg`` first) to its path; ``container`` lists the
    product ids in the tote; ``gt`` is the picked product."""

    pick_id: str
    gt: str
    container: list[str]
    views: dict[str, Path]

    def query_views(self, protocol: str) -> list[Path]:
        """``"pre-pick"``: PickRGB only; ``"post-pick"``: every pick image present."""
        if protocol == "pre-pick":
            return [self.views[PICK_VIEW]]
        if protocol == "post-pick":
            return list(self.views.values())
        raise UserError(f"protocol must be 'pre-pick' or 'post-pick', got {protocol!r}")


@dataclass
class ArmBenchSplit:
    """A loaded split: picks, the split's product ids, their reference images, and skip counts."""

    root: Path
    split: str
    picks: list[Pick]
    objects: list[str]
    references: dict[str, list[Path]]
    skipped: Counter = field(default_factory=Counter)

    @property
    def picks_skipped(self) -> int:
        return int(sum(self.skipped.values()))


def _read_json(path: Path) -> object | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def reference_images(root: Path, product_id: str) -> list[Path]:
    """``Reference_Images/<pid>/<k>.jpg`` sorted by k (numeric names only); [] if the folder is absent."""
    folder = root / "Reference_Images" / product_id
    if not folder.is_dir():
        return []
    numbered = [(int(m.group(1)), p) for p in folder.iterdir() if (m := re.fullmatch(r"(\d+)\.jpe?g", p.name, re.I))]
    return [p for _, p in sorted(numbered)]


def load_armbench(root: str | os.PathLike[str], split: str) -> ArmBenchSplit:
    """Load split ``"train"`` or ``"test"`` of the dataset at ``root``.

    Skip reasons counted in ``skipped``: ``pick_folder_missing``, ``pick_image_missing``,
    ``container_unreadable``, ``annotation_unreadable``. A split that names no existing pick is a UserError.
    """
    if split not in SPLITS:
        raise UserError(f"split must be 'train' or 'test', got {split!r}")
    root = require_dir(root, "ArmBench root")
    picks_dir = require_dir(root / "Picks", "ArmBench Picks folder")
    require_dir(root / "Reference_Images", "ArmBench Reference_Images folder")
    data = load_split(root / SPLIT_FILE)
    pick_key, obj_key = SPLITS[split]
    objects = list(dict.fromkeys(data[obj_key]))
    skipped: Counter = Counter()
    picks: list[Pick] = []
    for pick_id in data[pick_key]:
        folder = picks_dir / pick_id
        if not folder.is_dir():
            skipped["pick_folder_missing"] += 1
            continue
        if not (folder / PICK_VIEW).is_file():
            skipped["pick_image_missing"] += 1
            continue
        container = _read_json(folder / "container.json")
        if not isinstance(container, dict) or not all(isinstance(k, str) for k in container):
            skipped["container_unreadable"] += 1
            continue
        annotation = _read_json(folder / "annotation.json")
        if not isinstance(annotation, dict) or not isinstance(annotation.get("GT_ID"), str):
            skipped["annotation_unreadable"] += 1
            continue
        views = {PICK_VIEW: folder / PICK_VIEW}
        views.update({v: folder / v for v in AFTER_PICK_VIEWS if (folder / v).is_file()})
        picks.append(Pick(pick_id, annotation["GT_ID"], list(container), views))
    if not picks:
        raise UserError(
            f"the {split} split names {len(data[pick_key])} picks but none could be read ({dict(skipped)})", root
        )
    refs = {pid: reference_images(root, pid) for pid in objects}
    return ArmBenchSplit(root, split, picks, objects, refs, skipped)


def hold_out_products(
    train: ArmBenchSplit, fraction: float, seed: int, gallery: str = "all"
) -> tuple[ArmBenchSplit, ArmBenchSplit]:
    """Hold a share of the training *products*, with all their picks, out of training for validation.

    Candidates are the products that are the ground truth of at least one training pick, sorted by id; a
    permutation drawn from ``numpy.random.default_rng([seed, 5113])`` takes ``round(fraction * n)`` of them
    (at least 1, at most ``n - 2`` so that two training classes remain). The result depends only on the
    split's content and ``seed`` (not on pick order, process or platform). Like the test protocol,
    validation then queries products whose picks and reference images were never trained on; they can
    still appear as clutter in the tote images of training picks, as test products can in real data.

    Args:
        train: the loaded ``"train"`` split.
        fraction: share of candidate products held out, in (0, 1).
        seed: selects the products.
        gallery: gallery products of a validation pick (intersected with its ``container.json`` as in the
            test protocol): ``"all"`` (default) = every product of the training object list, so galleries
            are as large as in training totes (held-out products compete with trained ones);
            ``"held-out"`` = only held-out products (all unseen, but galleries are small: often just the
            ground truth, which makes recall@1 trivially high).

    Returns:
        (train_part, val_part): ``train_part`` (split ``"train"``) keeps the other picks, and its object
        list and references lack the held-out products; ``val_part`` (split ``"held-out"``) has the
        held-out products' picks, the object list chosen by ``gallery`` and its reference images. Reader
        skip counts stay with ``train_part``.
    """
    if not 0.0 < fraction < 1.0:
        raise UserError(f"the held-out validation fraction must be in (0, 1), got {fraction}")
    if gallery not in VAL_GALLERIES:
        raise UserError(f"validation gallery must be 'all' or 'held-out', got {gallery!r}")
    candidates = sorted({p.gt for p in train.picks})
    if len(candidates) < 3:
        raise UserError(
            f"the train split has {len(candidates)} ground-truth products; holding some out needs at least 3",
            train.root,
        )
    n_val = min(len(candidates) - 2, max(1, int(round(fraction * len(candidates)))))
    order = np.random.default_rng([seed, 5113]).permutation(len(candidates))
    held = {candidates[i] for i in order[:n_val]}
    train_part = replace(
        train,
        picks=[p for p in train.picks if p.gt not in held],
        objects=[o for o in train.objects if o not in held],
        references={k: v for k, v in train.references.items() if k not in held},
    )
    val_objects = list(train.objects) if gallery == "all" else [o for o in train.objects if o in held]
    val_refs = {pid: train.references.get(pid, []) for pid in val_objects}
    val_part = ArmBenchSplit(train.root, HELD_OUT, [p for p in train.picks if p.gt in held], val_objects, val_refs)
    return train_part, val_part


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray | None:
    """Decode an image file to RGB uint8 (H, W, 3); ``None`` if it is missing, truncated or corrupt."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
