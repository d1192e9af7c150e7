"""Reader for datasets in the BOP layout (HOPE, YCB-V, ... and :mod:`vision.bop.fixture`).

Layout (see the BOP format notes)::

    ROOT/camera.json, ROOT/test_targets_bop19.json, ROOT/models/models_info.json
    ROOT/<split>/<scene:06d>/rgb/<im:06d>.png|.jpg, depth/<im:06d>.png,
        mask/<im:06d>_<gt:06d>.png, mask_visib/<im:06d>_<gt:06d>.png,
        scene_camera.json, scene_gt.json, scene_gt_info.json
    ROOT/onboarding_static/obj_<id:06d>_up|_down/rgb/*, mask_visib/*
    ROOT/onboarding_dynamic/obj_<id:06d>/rgb/*, mask_visib/* (optional)

A missing or unreadable required JSON file, or an undecodable image, is a :class:`UserError` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision.common.errors import UserError, require_dir
from vision.common.errors import read_json as read_common_json

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif")


def read_json(path: Path, what: str = "BOP file") -> Any:
    """Parse a JSON file; missing or malformed -> :class:`UserError` naming it."""
    if not path.is_file():
        raise UserError(f"required {what} is missing", path)
    return read_common_json(path, what)


def read_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Decode an image file: colour -> (H, W, 3) uint8 RGB; ``IMREAD_UNCHANGED`` -> as stored.

    Raises :class:`UserError` if the file is missing or cannot be decoded.
    """
    if not path.is_file():
        raise UserError("image is missing", path)
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, flags) if data.size else None
    if img is None:
        raise UserError("image cannot be decoded", path)
    if flags == cv2.IMREAD_COLOR:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def read_mask(path: Path) -> np.ndarray:
    """Read a BOP mask PNG as (H, W) bool (non-zero = object)."""
    img = read_image(path, cv2.IMREAD_UNCHANGED)
    if img.ndim == 3:
        img = img[..., 0]
    return img > 0


def find_image(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` with the first existing image extension, or None."""
    for ext in IMAGE_EXTS:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def _int_keys(data: dict[str, Any], path: Path) -> dict[int, Any]:
    try:
        return {int(k): v for k, v in data.items()}
    except (ValueError, AttributeError) as err:
        raise UserError("keys must be image ids", path) from err


@dataclass
class SceneData:
    """The per-scene JSON files, keyed by integer image id."""

    scene_id: int
    path: Path
    gt: dict[int, list[dict[str, Any]]]
    gt_info: dict[int, list[dict[str, Any]]]
    camera: dict[int, dict[str, Any]]

    def image_ids(self) -> list[int]:
        """Image ids of the scene (from scene_camera.json, which every BOP scene has)."""
        return sorted(self.camera)


class BopDataset:
    """A BOP dataset folder.

    Args:
        root: the dataset folder (contains ``camera.json`` and split folders).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = require_dir(root, "BOP dataset folder")
        self.camera = read_json(self.root / "camera.json", "camera.json")
        self._scenes: dict[tuple[str, int], SceneData] = {}

    # ---------------------------------------------------------------------------------- objects
    def object_ids(self) -> list[int]:
        """Object ids from ``models/models_info.json`` (or ``models_eval``), else from onboarding folders."""
        for sub in ("models", "models_eval"):
            p = self.root / sub / "models_info.json"
            if p.is_file():
                return sorted(int(k) for k in read_json(p, "models_info.json"))
        ids = set()
        for kind in ("onboarding_static", "onboarding_dynamic"):
            for d in (self.root / kind).glob("obj_*"):
                ids.add(int(d.name.split("_")[1]))
        if not ids:
            raise UserError("no models/models_info.json and no onboarding folders: object ids unknown", self.root)
        return sorted(ids)

    # ------------------------------------------------------------------------------------ scenes
    def split_dir(self, split: str) -> Path:
        """``ROOT/<split>`` (must exist)."""
        return require_dir(self.root / split, f"BOP split '{split}'")

    def scene_ids(self, split: str) -> list[int]:
        """Scene ids present in ``split``."""
        return sorted(int(p.name) for p in self.split_dir(split).iterdir() if p.is_dir() and p.name.isdigit())

    def scene(self, split: str, scene_id: int) -> SceneData:
        """The scene's JSON files (cached). scene_gt/_info are optional (test GT may be private)."""
        key = (split, scene_id)
        if key not in self._scenes:
            path = self.split_dir(split) / f"{scene_id:06d}"
            if not path.is_dir():
                raise UserError(f"scene {scene_id} does not exist", path)
            cam = _int_keys(read_json(path / "scene_camera.json", "scene_camera.json"), path / "scene_camera.json")
            gt_p, info_p = path / "scene_gt.json", path / "scene_gt_info.json"
            gt = _int_keys(read_json(gt_p, "scene_gt.json"), gt_p) if gt_p.exists() else {}
            info = _int_keys(read_json(info_p, "scene_gt_info.json"), info_p) if info_p.exists() else {}
            self._scenes[key] = SceneData(scene_id, path, gt, info, cam)
        return self._scenes[key]

    def require_gt(self, split: str, scene_id: int) -> SceneData:
        """Like :meth:`scene` but scene_gt.json and scene_gt_info.json must exist (for evaluation)."""
        sc = self.scene(split, scene_id)
        for name in ("scene_gt.json", "scene_gt_info.json"):
            if not (sc.path / name).is_file():
                raise UserError(f"required {name} is missing (ground truth needed for evaluation)", sc.path / name)
        return sc

    def rgb_path(self, split: str, scene_id: int, im_id: int) -> Path:
        """Path of the colour image (``rgb/``, or ``gray/`` for grey-scale datasets)."""
        base = self.split_dir(split) / f"{scene_id:06d}"
        for sub in ("rgb", "gray"):
            p = find_image(base / sub, f"{im_id:06d}")
            if p is not None:
                return p
        raise UserError(f"no rgb image for image {im_id}", base / "rgb")

    def read_rgb(self, split: str, scene_id: int, im_id: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return read_image(self.rgb_path(split, scene_id, im_id))

    def read_depth(self, split: str, scene_id: int, im_id: int) -> np.ndarray | None:
        """(H, W) float32 depth in millimetres (0 = no data), or None if the dataset has no depth."""
        base = self.split_dir(split) / f"{scene_id:06d}" / "depth"
        p = find_image(base, f"{im_id:06d}")
        if p is None:
            return None
        raw = read_image(p, cv2.IMREAD_UNCHANGED)
        scale = float(self.scene(split, scene_id).camera.get(im_id, {}).get("depth_scale", self.camera.get("depth_scale", 1.0)))
        return raw.astype(np.float32) * scale

    def visib_mask(self, split: str, scene_id: int, im_id: int, gt_idx: int) -> np.ndarray:
        """(H, W) bool visible mask of GT instance ``gt_idx``."""
        p = self.split_dir(split) / f"{scene_id:06d}" / "mask_visib" / f"{im_id:06d}_{gt_idx:06d}.png"
        return read_mask(p)

    def image_size(self) -> tuple[int, int]:
        """(H, W) from camera.json."""
        return int(self.camera["height"]), int(self.camera["width"])

    # ------------------------------------------------------------------------------------ targets
    def targets(self, split: str = "test", path: Path | None = None) -> list[dict[str, int]]:
        """Entries of a targets file (default ``ROOT/<split>_targets_bop19.json``, else ``_bop24``).

        ``path`` may be a bare file name inside the dataset folder (``test_targets_bop24.json``).
        """
        if path is None:
            for name in (f"{split}_targets_bop19.json", f"{split}_targets_bop24.json"):
                if (self.root / name).is_file():
                    path = self.root / name
                    break
            else:
                raise UserError(f"no {split}_targets_bop19.json or _bop24.json; pass --targets", self.root)
        elif not Path(path).is_file() and (self.root / path).is_file():
            path = self.root / path  # a bare name such as test_targets_bop24.json is looked up in the dataset
        data = read_json(Path(path), "targets file")
        if not isinstance(data, list) or not all(
            isinstance(t, dict) and isinstance(t.get("scene_id"), int) and isinstance(t.get("im_id"), int) for t in data
        ):
            raise UserError("targets file must be a list of {scene_id, im_id, ...} entries with integer ids", path)
        return data

    def target_images(self, split: str = "test", path: Path | None = None) -> list[tuple[int, int]]:
        """Sorted unique (scene_id, im_id) pairs named in the targets file."""
        return sorted({(int(t["scene_id"]), int(t["im_id"])) for t in self.targets(split, path)})

    # --------------------------------------------------------------------------------- onboarding
    def onboarding_views(self, kind: str, obj_id: int) -> list[tuple[Path, Path | None]]:
        """(rgb path, visible-mask path or None) for every onboarding image of ``obj_id``.

        ``kind`` is ``"static"`` (folders ``obj_<id>_up`` and ``obj_<id>_down``) or ``"dynamic"`` (``obj_<id>``).
        """
        base = self.root / f"onboarding_{kind}"
        if kind == "static":
            folders = [base / f"obj_{obj_id:06d}_up", base / f"obj_{obj_id:06d}_down"]
        elif kind == "dynamic":
            folders = [base / f"obj_{obj_id:06d}"]
        else:
            raise UserError(f"onboarding must be 'static' or 'dynamic', got {kind!r}")
        views: list[tuple[Path, Path | None]] = []
        for folder in folders:
            rgb_dir = folder / "rgb"
            if not rgb_dir.is_dir():
                continue
            for p in sorted(rgb_dir.iterdir()):
                if p.suffix.lower() not in IMAGE_EXTS:
                    continue
                mask_dir = folder / "mask_visib"
                m = None
                if mask_dir.is_dir():
                    m = find_image(mask_dir, p.stem) or find_image(mask_dir, f"{p.stem}_000000")
                views.append((p, m))
        return views
