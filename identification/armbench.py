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
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vision.common.errors import UserError, require_dir, require_file

PICK_VIEW = "PickRGB.jpg"
AFTER_PICK_VIEWS = ("ToteWallRGB.jpg", "OnArmLowRGB.jpg", "FarTrayRGB.jpg")
SPLIT_FILE = "train-test-split.pickle"
SPLIT_KEYS = ("trainset", "testset", "trainset-objects", "testset-objects")
SPLITS = {"train": ("trainset", "trainset-objects"), "test": ("testset", "testset-objects")}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global: only dict, list, tuple, set, str, bytes, int, float, bool, None
    can come out (those are built by opcodes, never by ``find_class``)."""

    def find_class(self, module: str, name: str):  # type: ignore[no-untyped-def]
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


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray | None:
    """Decode an image file to RGB uint8 (H, W, 3); ``None`` if it is missing, truncated or corrupt."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
