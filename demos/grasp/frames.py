"""Synchronised RGB-D frames, intrinsics files, and the folder-of-images input.

A :class:`Frame` is what the grasp node's callback receives: one colour image, the depth image taken
with it (or None) and the camera intrinsics. Frames come from a rosbag2 (:mod:`demos.grasp.bag`) or
from a folder of images read here.

Folder layout (either form)::

    DIR/rgb/<name>.png|jpg   DIR/depth/<name>.png        (depth optional, same stem)
    DIR/<name>.png|jpg       DIR/<name>_depth.png        (depth optional)

Depth PNGs are 16-bit; metres = value * depth_scale / 1000 where ``depth_scale`` (millimetres per
unit, default 1) comes from the intrinsics JSON; 0 means no measurement. The intrinsics JSON is the
BOP ``camera.json`` form ``{"fx", "fy", "cx", "cy", "width", "height", "depth_scale"?}`` or
``{"K": [9 numbers, row-major], "width", "height"}``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from demos.grasp.geometry import Intrinsics
from vision.common.errors import UserError, read_json, require_dir

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass
class FrameTruth:
    """Ground truth carried by generated scenes (absent for real data).

    Attributes:
        instances: ``(H, W) uint16`` instance label image, 0 = background, ``i`` = object ``i``.
        objects: per instance id, a dict with at least ``product_id`` (and ``position``/``normal`` of its
            top face in the camera frame for generated scenes).
    """

    instances: np.ndarray
    objects: dict[int, dict]


@dataclass
class Frame:
    """One synchronised input set.

    Attributes:
        stamp_ns: capture time (header stamp) in nanoseconds; folder frames use their index.
        rgb: ``(H, W, 3) uint8`` RGB.
        depth: ``(H, W) float32`` metres, NaN where invalid; None when the input has no depth.
        intrinsics: camera intrinsics for ``rgb`` (and ``depth``, which is registered to it).
        name: a label for reports and file names (image stem or ``frame_000003``).
        frame_id: the ROS TF frame of the camera.
        truth: ground truth when the input carries it (generated scenes), else None.
        manifest: product ids known to be in the tote (a warehouse system's tote content, as in
            ArmBench's ``container.json``); identification is restricted to them when given.
    """

    stamp_ns: int
    rgb: np.ndarray
    depth: np.ndarray | None
    intrinsics: Intrinsics
    name: str
    frame_id: str = "camera_color_optical_frame"
    truth: FrameTruth | None = None
    manifest: list[str] | None = None


def check_frame_sizes(rgb: np.ndarray, depth: np.ndarray | None, where: str | os.PathLike[str]) -> None:
    """Raise :class:`UserError` when the depth image is not the size of the colour image."""
    if depth is not None and depth.shape[:2] != rgb.shape[:2]:
        raise UserError(
            f"rgb image is {rgb.shape[1]}x{rgb.shape[0]} but depth image is {depth.shape[1]}x{depth.shape[0]}; "
            "depth must be registered to the colour camera (same size)",
            where,
        )


def load_intrinsics(path: str | os.PathLike[str]) -> tuple[Intrinsics, float]:
    """Read an intrinsics JSON; returns ``(intrinsics, depth_scale_mm_per_unit)``."""
    p = Path(path)
    data = read_json(p, "intrinsics file")
    if not isinstance(data, dict):
        raise UserError("intrinsics must be a JSON object with fx, fy, cx, cy, width, height (or K)", p)
    try:
        if "K" in data:
            K = [float(v) for v in data["K"]]
            if len(K) != 9:
                raise ValueError("K must have 9 numbers")
            fx, fy, cx, cy = K[0], K[4], K[2], K[5]
        else:
            fx, fy, cx, cy = (float(data[key]) for key in ("fx", "fy", "cx", "cy"))
        width, height = int(data["width"]), int(data["height"])
        scale = float(data.get("depth_scale", 1.0))
    except KeyError as err:
        raise UserError(f"intrinsics key {err} is missing (need fx, fy, cx, cy, width, height or K)", p) from err
    except (TypeError, ValueError) as err:
        raise UserError(f"intrinsics values are not numbers: {err}", p) from err
    if fx <= 0 or fy <= 0 or width <= 0 or height <= 0 or scale <= 0:
        raise UserError("fx, fy, width, height and depth_scale must be positive", p)
    return Intrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height), scale


def write_intrinsics(path: str | os.PathLike[str], k: Intrinsics, depth_scale: float = 1.0) -> Path:
    """Write ``k`` in the BOP ``camera.json`` form read by :func:`load_intrinsics`."""
    from vision.common.atomic import write_json_atomic

    return write_json_atomic(path, {**k.to_dict(), "depth_scale": depth_scale})


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise UserError("cannot be read as an image", path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _read_depth(path: Path, depth_scale_mm: float) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise UserError("cannot be read as a depth image", path)
    if raw.ndim != 2 or raw.dtype not in (np.uint16, np.uint8):
        raise UserError(f"depth image must be single-channel 16-bit, got {raw.dtype} with shape {raw.shape}", path)
    depth = raw.astype(np.float32) * np.float32(depth_scale_mm / 1000.0)
    depth[raw == 0] = np.nan
    return depth


def folder_pairs(root: str | os.PathLike[str]) -> list[tuple[Path, Path | None]]:
    """``(rgb_path, depth_path or None)`` for every colour image of an input folder, sorted by name."""
    d = require_dir(root, "image folder")
    if (d / "rgb").is_dir():
        rgb_files = sorted(p for p in (d / "rgb").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        pairs = [(p, (d / "depth" / f"{p.stem}.png") if (d / "depth" / f"{p.stem}.png").exists() else None) for p in rgb_files]
    else:
        rgb_files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_depth"))
        pairs = [(p, p.with_name(f"{p.stem}_depth.png") if p.with_name(f"{p.stem}_depth.png").exists() else None)
                 for p in rgb_files]
    if not pairs:
        raise UserError(f"no colour images ({', '.join(IMAGE_SUFFIXES)}) found (expected rgb/ or <name>.png files)", d)
    return pairs


def read_image_folder(root: str | os.PathLike[str], intrinsics_path: str | os.PathLike[str],
                      stats: dict[str, Any] | None = None) -> Iterator[Frame]:
    """Frames from a folder of RGB(-D) images (layout in the module docstring).

    An image that cannot be decoded is skipped and counted in ``stats`` (``frames``, ``skipped``,
    ``skipped_files``). Raises :class:`UserError` for a depth image of another size than its colour
    image, intrinsics whose size differs from the images, or a folder where no frame could be read.
    """
    k, scale = load_intrinsics(intrinsics_path)
    stats = stats if stats is not None else {}
    stats.update(frames=0, skipped=0, skipped_files=[])
    for index, (rgb_path, depth_path) in enumerate(folder_pairs(root)):
        try:
            rgb = _read_rgb(rgb_path)
            depth = _read_depth(depth_path, scale) if depth_path is not None else None
        except UserError as err:
            stats["skipped"] += 1
            stats["skipped_files"].append(err.one_line())
            continue
        check_frame_sizes(rgb, depth, depth_path or rgb_path)
        if (k.width, k.height) != (rgb.shape[1], rgb.shape[0]):
            raise UserError(
                f"intrinsics are for {k.width}x{k.height} images but {rgb_path.name} is {rgb.shape[1]}x{rgb.shape[0]}",
                intrinsics_path,
            )
        stats["frames"] += 1
        yield Frame(stamp_ns=index, rgb=rgb, depth=depth, intrinsics=k, name=rgb_path.stem)
    if stats["frames"] == 0:
        raise UserError(f"none of the {stats['skipped']} images could be read", root)
