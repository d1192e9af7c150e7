"""Synthetic RGB-D tote scenes with known products, poses and depth, written into a rosbag2.

A scene is a top-down camera over a tote: a noisy coloured floor (a plane about ``floor_m`` away,
slightly tilted), raised walls along the border, and a few products from the identification fixture
(:func:`identification.fixture.render_product`) lying apart from each other. Each product's visible
top face is a plane ``height`` above the floor, tilted by up to ``max_tilt_deg``; depth inside its mask
is the exact ray/plane intersection plus Gaussian noise, quantised to millimetres, with a few dropped
pixels (0 = no measurement), as a structured-light camera would give.

The bag holds ``sensor_msgs/Image`` colour (rgb8), depth (16UC1 millimetres, stamped a few ms after
the colour image), ``sensor_msgs/CameraInfo``, the tote manifest (``std_msgs/String`` JSON: the visible
products plus a few hidden ones, as a warehouse system knows a tote's content), and ground truth: an
instance label image (16UC1) and a ``std_msgs/String`` JSON with each instance's product id, top-face
centre and normal.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from demos.grasp import messages as M
from demos.grasp.bag import GT_INSTANCES, GT_OBJECTS, TOTE_MANIFEST, BagWriter
from demos.grasp.frames import Frame, FrameTruth
from demos.grasp.geometry import Intrinsics
from vision.common.atomic import atomic_dir
from vision.common.errors import UserError
from vision.common.progress import track

RGB_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/depth/image_rect_raw"
INFO_TOPIC = "/camera/color/camera_info"


@dataclass
class SceneConfig:
    """Shape of the generated scenes (the YAML ``scene`` section).

    Attributes:
        width, height: image size in pixels.
        fov_deg: horizontal field of view.
        floor_m: distance from the camera to the tote floor at the image centre.
        objects: ``[min, max]`` products per frame.
        object_px: ``[min, max]`` side of each rendered product view, pixels.
        height_m: ``[min, max]`` height of a product's top face above the floor.
        max_tilt_deg: largest tilt of a top face from the floor plane.
        depth_noise_m: standard deviation of the depth noise.
        dropout: share of depth pixels without a measurement.
        no_depth_objects: probability that an object returns no depth at all (black/transparent).
        manifest_distractors: products listed in the tote manifest that are not visible (hidden below).
        depth_lag_ms: depth stamp minus colour stamp.
        period_ms: time between frames.
    """

    width: int = 320
    height: int = 240
    fov_deg: float = 60.0
    floor_m: float = 0.8
    objects: tuple[int, int] = (3, 5)
    object_px: tuple[int, int] = (64, 92)
    height_m: tuple[float, float] = (0.03, 0.12)
    max_tilt_deg: float = 15.0
    depth_noise_m: float = 0.0005
    dropout: float = 0.01
    no_depth_objects: float = 0.0
    manifest_distractors: int = 2
    depth_lag_ms: float = 4.0
    period_ms: float = 100.0

    def intrinsics(self) -> Intrinsics:
        f = 0.5 * self.width / np.tan(np.deg2rad(self.fov_deg) / 2)
        return Intrinsics(fx=f, fy=f, cx=(self.width - 1) / 2, cy=(self.height - 1) / 2, width=self.width, height=self.height)


def _plane_depth(k: Intrinsics, normal: np.ndarray, point: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Depth ``(H, W)`` of the plane through ``point`` with ``normal``, seen along each pixel ray."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    rays = k.rays(xx, yy)
    return (np.dot(normal, point) / (rays @ normal)).astype(np.float64)


def _tilted_normal(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    tilt = np.deg2rad(rng.uniform(0, max_deg))
    azim = rng.uniform(0, 2 * np.pi)
    return np.array([np.sin(tilt) * np.cos(azim), np.sin(tilt) * np.sin(azim), -np.cos(tilt)])


def render_scene(catalog: list[Any], rng: np.random.Generator, cfg: SceneConfig, stamp_ns: int = 0,
                 name: str = "scene") -> Frame:
    """One tote scene with ground truth.

    Args:
        catalog: the products to choose from (``identification.fixture.ProductSpec``).
    Returns:
        a :class:`Frame` with ``rgb (H, W, 3) uint8``, ``depth (H, W) float32`` metres (NaN = dropped)
        and ``truth`` (instance labels + per-instance product id, top-face centre and normal).
    """
    from identification.fixture import render_product

    H, W = cfg.height, cfg.width
    k = cfg.intrinsics()
    floor_n = _tilted_normal(rng, 3.0)
    depth = _plane_depth(k, floor_n, np.array([0.0, 0.0, cfg.floor_m]), (H, W))
    wall = max(4, int(0.07 * min(H, W)))
    yy, xx = np.mgrid[0:H, 0:W]
    border = np.minimum(np.minimum(yy, H - 1 - yy), np.minimum(xx, W - 1 - xx))
    rim = border < wall
    depth[rim] -= 0.25 * (1 - border[rim] / wall)
    floor_colour = np.array(rng.choice([(40, 70, 140), (70, 70, 75), (150, 40, 40), (40, 110, 60)]), np.float32)
    noise = cv2.resize(rng.normal(0, 8, size=(H // 8, W // 8, 3)).astype(np.float32), (W, H))
    rgb = np.clip(floor_colour * rng.uniform(0.85, 1.15) + noise, 0, 255)
    rgb[rim] *= (0.55 + 0.45 * border[rim] / wall)[:, None]
    instances = np.zeros((H, W), np.uint16)
    objects: dict[int, dict] = {}
    n_obj = int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))
    chosen = rng.choice(len(catalog), size=min(n_obj, len(catalog)), replace=False)
    occupied = rim.copy()
    for spec_index in chosen:
        spec = catalog[int(spec_index)]
        size = int(rng.integers(cfg.object_px[0], cfg.object_px[1] + 1))
        view, mask = render_product(spec, rng, size)
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        for _ in range(40):
            x0, y0 = int(rng.integers(0, W - size)), int(rng.integers(0, H - size))
            if not (occupied[y0 : y0 + size, x0 : x0 + size] & grown).any():
                break
        else:
            continue
        full = np.zeros((H, W), bool)
        full[y0 : y0 + size, x0 : x0 + size] = mask
        if full.sum() < 50:
            continue
        occupied[y0 : y0 + size, x0 : x0 + size] |= grown
        inst = len(objects) + 1
        vs, us = np.nonzero(full)
        cu, cv_ = float(us.mean()), float(vs.mean())
        floor_z = float(depth[int(round(cv_)), int(round(cu))])
        top_z = floor_z - rng.uniform(*cfg.height_m)
        normal = _tilted_normal(rng, cfg.max_tilt_deg)
        centre = k.backproject(cu, cv_, top_z)
        plane = _plane_depth(k, normal, centre, (H, W))
        depth[full] = plane[full]
        rgb[y0 : y0 + size, x0 : x0 + size][mask] = view[mask]
        instances[full] = inst
        no_depth = bool(rng.random() < cfg.no_depth_objects)
        if no_depth:
            depth[full] = np.nan
        objects[inst] = {"product_id": spec.product_id, "position": centre.tolist(), "normal": normal.tolist(),
                         "bbox": [int(us.min()), int(vs.min()), int(us.max() - us.min() + 1), int(vs.max() - vs.min() + 1)],
                         "no_depth": no_depth}
    depth = depth + rng.normal(0, cfg.depth_noise_m, size=depth.shape)
    depth[rng.random(depth.shape) < cfg.dropout] = np.nan
    depth = np.round(depth * 1000.0) / 1000.0
    visible = {o["product_id"] for o in objects.values()}
    others = [s.product_id for s in catalog if s.product_id not in visible]
    n_hidden = min(cfg.manifest_distractors, len(others))
    hidden: list[str] = [str(p) for p in rng.choice(others, size=n_hidden, replace=False)] if n_hidden else []
    return Frame(stamp_ns=stamp_ns, rgb=rgb.astype(np.uint8), depth=depth.astype(np.float32), intrinsics=k,
                 name=name, truth=FrameTruth(instances=instances, objects=objects),
                 manifest=sorted(visible | set(hidden)))


def write_scene_bag(
    out: str | os.PathLike[str],
    catalog: list[Any],
    n_frames: int,
    seed: int,
    cfg: SceneConfig | None = None,
    storage: str = "mcap",
    overwrite: bool = False,
    with_camera_info: bool = True,
) -> dict[str, Any]:
    """Write ``n_frames`` generated scenes into a new rosbag2 folder ``out``; returns a summary dict.

    Args:
        catalog: products to place (their ids must be in the gallery the demo uses).
        storage: ``"mcap"`` or ``"sqlite3"``.
        with_camera_info: False leaves CameraInfo out (to exercise ``--intrinsics``).
    """
    if n_frames < 1 or not catalog:
        raise UserError(f"need at least one frame and one product (got {n_frames} frames, {len(catalog)} products)")
    cfg = cfg or SceneConfig()
    rng = np.random.default_rng([seed, 4242])
    store = M.make_typestore()
    k = cfg.intrinsics()
    t0 = 1_700_000_000 * 1_000_000_000
    counts: dict[str, int] = {}
    products: set[str] = set()
    n_objects = 0
    with atomic_dir(out, overwrite) as tmp:
        tmp.rmdir()  # rosbags creates the bag folder itself
        with BagWriter(tmp, storage=storage, store=store) as bag:
            for i in track(range(n_frames), "generating scenes"):
                stamp = t0 + int(i * cfg.period_ms * 1e6)
                frame = render_scene(catalog, rng, cfg, stamp, f"frame_{i:06d}")
                lag = int(cfg.depth_lag_ms * 1e6)
                truth, depth = frame.truth, frame.depth
                assert truth is not None and depth is not None
                bag.write(GT_INSTANCES, M.image_to_msg(store, truth.instances, "16UC1", stamp, frame.frame_id), stamp - 1)
                gt = {"stamp_ns": stamp, "objects": {str(i_): o for i_, o in truth.objects.items()}}
                bag.write(GT_OBJECTS, M.string_msg(store, json.dumps(gt)), stamp - 1)
                manifest = {"stamp_ns": stamp, "products": frame.manifest}
                bag.write(TOTE_MANIFEST, M.string_msg(store, json.dumps(manifest)), stamp - 1)
                if with_camera_info:
                    bag.write(INFO_TOPIC, M.camera_info_to_msg(store, k, stamp, frame.frame_id), stamp)
                bag.write(RGB_TOPIC, M.image_to_msg(store, frame.rgb, "rgb8", stamp, frame.frame_id), stamp)
                bag.write(DEPTH_TOPIC, M.depth_to_msg(store, depth, "16UC1", stamp + lag, frame.frame_id), stamp + lag)
                n_objects += len(truth.objects)
                products.update(o["product_id"] for o in truth.objects.values())
            counts = dict(bag.counts)
    return {"bag": str(Path(out)), "storage": storage, "frames": n_frames, "objects": n_objects,
            "products": sorted(products), "messages": counts, "intrinsics": k.to_dict(), "seed": seed}
