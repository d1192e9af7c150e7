"""A small procedurally generated dataset in the exact BOP layout, for tests and the quickstart.

Objects are products from :mod:`identification.fixture` (``make_catalog``/``render_product``), drawn as
flat items lying on a tote floor seen from above by an RGB-D camera: each object is a slab of its own
height, so nearer (higher) objects occlude the ones below; the floor carries low-contrast clutter.
Written files (see :mod:`vision.bop.reader`): ``camera.json``, ``models/models_info.json``,
``test_targets_bop19.json``/``_bop24.json`` (``<split>_targets_*`` for each split),
``<split>/<scene>/rgb|depth|mask|mask_visib``, ``scene_camera.json``, ``scene_gt.json`` (in-plane poses:
identity rotation, translation from the object's image centre and depth), ``scene_gt_info.json``
(``bbox_obj`` amodal, ``bbox_visib``, ``px_count_*``, ``visib_fract``), ``onboarding_static/obj_<id>_up|_down``
(rgb + mask_visib) and ``onboarding_dynamic/obj_<id>`` (rgb; mask_visib for the first frame only, as
with real dynamic onboarding videos). No 3-D models (``.ply``) are written: 2-D evaluation needs none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from identification.fixture import ProductSpec, make_catalog, render_product
from vision.common.atomic import write_json_atomic
from vision.proposals import mask_bbox

DEPTH_SCALE = 0.1  # depth PNG units in mm


def _write_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(buf.tobytes())


def _cluttered_floor(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Tote floor: base colour, smooth noise, low-contrast clutter (scraps, tape, stains), darker walls."""
    base = np.array(rng.choice([(70, 90, 140), (110, 110, 115), (150, 60, 50), (60, 110, 80)]), np.float32)
    base *= rng.uniform(0.85, 1.15)
    small = rng.normal(0, 9, size=(h // 16 + 2, w // 16 + 2, 3)).astype(np.float32)
    img = base[None, None] + cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(10, 20))):
        color = tuple(float(c) for c in base + rng.uniform(-35, 35, size=3))
        kind = rng.integers(3)
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if kind == 0:
            q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p, q, color, int(rng.integers(1, 5)), cv2.LINE_AA)
        elif kind == 1:
            axes = (int(rng.integers(5, 40)), int(rng.integers(5, 25)))
            cv2.ellipse(img, p, axes, float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)
        else:
            s = int(rng.integers(8, 45))
            cv2.rectangle(img, p, (p[0] + s, p[1] + int(s * rng.uniform(0.3, 1.5))), color, -1)
    img += rng.normal(0, 3, size=img.shape).astype(np.float32)
    wall = int(min(h, w) * 0.05)
    for i in range(wall):
        f = 0.6 + 0.4 * i / wall
        img[i] *= f
        img[-1 - i] *= f
        img[:, i] *= f
        img[:, -1 - i] *= f
    return img


def _place(full: np.ndarray, h: int, w: int, cx: int, cy: int) -> tuple[np.ndarray, int]:
    """Amodal object mask in image coordinates (H, W) and its total pixel count (including off-image)."""
    s = full.shape[0]
    x0, y0 = cx - s // 2, cy - s // 2
    out = np.zeros((h, w), bool)
    sx0, sy0, dx0, dy0 = max(0, -x0), max(0, -y0), max(0, x0), max(0, y0)
    dx1, dy1 = min(w, x0 + s), min(h, y0 + s)
    if dx1 > dx0 and dy1 > dy0:
        out[dy0:dy1, dx0:dx1] = full[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
    return out, int(full.sum())


def _amodal_box(full: np.ndarray, cx: int, cy: int) -> list[int]:
    x, y, bw, bh = mask_bbox(full)
    s = full.shape[0]
    return [int(cx - s // 2 + x), int(cy - s // 2 + y), int(bw), int(bh)]


def _scene_image(
    specs: list[ProductSpec], rng: np.random.Generator, h: int, w: int, K: np.ndarray, n_objects: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], list[dict[str, Any]], list[np.ndarray], list[np.ndarray]]:
    """One cluttered RGB-D image: rgb (H, W, 3) uint8, depth (H, W) float32 mm, GT, GT info, amodal + visible masks."""
    canvas = _cluttered_floor(rng, h, w)
    floor_z = 700.0 + rng.uniform(-30, 30)
    tilt = rng.uniform(-0.08, 0.08, size=2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = floor_z + tilt[0] * (xx - w / 2) + tilt[1] * (yy - h / 2)
    k = int(rng.integers(n_objects[0], n_objects[1] + 1))
    chosen = rng.choice(len(specs), size=min(k, len(specs)), replace=False)
    heights = np.sort(rng.uniform(15, 120, size=len(chosen)))  # drawn bottom (low) to top (high)
    placed: list[Any] = []
    for idx, height in zip(chosen, heights, strict=True):
        size = int(min(h, w) * rng.uniform(0.32, 0.5))
        u = rng.random()
        if placed and u < 0.15:  # cover a previous object almost entirely (BOP: visib_fract < 0.1 is ignored)
            _, pcx, pcy, _, (prev_mask, _, _) = placed[int(rng.integers(len(placed)))]
            size = max(size, int(prev_mask.shape[0] * 1.3))
            cx, cy = pcx, pcy
        elif placed and u < 0.5:  # stack on a previous object for partial occlusion
            _, pcx, pcy, _, _ = placed[int(rng.integers(len(placed)))]
            cx, cy = pcx + int(rng.integers(-size // 2, size // 2 + 1)), pcy + int(rng.integers(-size // 2, size // 2 + 1))
        else:
            cx, cy = int(rng.uniform(0.12, 0.88) * w), int(rng.uniform(0.12, 0.88) * h)
        cx, cy = int(np.clip(cx, 0, w - 1)), int(np.clip(cy, 0, h - 1))
        rgb_o, m_o = render_product(specs[idx], rng, size)
        amodal, total = _place(m_o, h, w, cx, cy)
        if not amodal.any():
            continue
        rgb_full = np.zeros((h, w, 3), np.float32)
        s = size
        x0, y0 = cx - s // 2, cy - s // 2
        sx0, sy0, dx0, dy0 = max(0, -x0), max(0, -y0), max(0, x0), max(0, y0)
        dx1, dy1 = min(w, x0 + s), min(h, y0 + s)
        rgb_full[dy0:dy1, dx0:dx1] = rgb_o[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
        canvas[amodal] = rgb_full[amodal]
        top_z = floor_z - height
        depth[amodal] = top_z + tilt[0] * (xx[amodal] - w / 2) + tilt[1] * (yy[amodal] - h / 2)
        placed.append((int(idx), cx, cy, amodal, (m_o, total, top_z)))
    # shadows soften object borders a little, like a real camera
    rgb = np.clip(cv2.GaussianBlur(canvas, (3, 3), 0.6), 0, 255).astype(np.uint8)
    gts, infos, amodals, visibs = [], [], [], []
    fx, fy, cx0, cy0 = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    for i, (idx, cx, cy, amodal, (m_o, total, top_z)) in enumerate(placed):
        visible = amodal.copy()
        for _, _, _, above, _ in placed[i + 1 :]:
            visible &= ~above
        n_vis = int(visible.sum())
        z = float(top_z)
        gts.append({
            "obj_id": idx + 1,
            "cam_R_m2c": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            "cam_t_m2c": [float((cx - cx0) * z / fx), float((cy - cy0) * z / fy), z],
        })
        infos.append({
            "bbox_obj": _amodal_box(m_o, cx, cy),
            "bbox_visib": list(mask_bbox(visible)) if n_vis else [-1, -1, -1, -1],
            "px_count_all": total,
            "px_count_valid": int(amodal.sum()),
            "px_count_visib": n_vis,
            "visib_fract": float(n_vis / total) if total else 0.0,
        })
        amodals.append(amodal)
        visibs.append(visible)
    depth_noisy = depth + rng.normal(0, 0.8, size=depth.shape).astype(np.float32)
    holes = rng.random((h, w)) < 0.002
    depth_noisy[holes] = 0.0
    return rgb, depth_noisy.astype(np.float32), gts, infos, amodals, visibs


def _onboarding_view(spec: ProductSpec, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An object alone on a light turntable background: rgb (size, size, 3) uint8 and mask (size, size) bool."""
    bg = np.full((size, size, 3), rng.uniform(200, 245), np.float32) + rng.normal(0, 3, (size, size, 3))
    obj_size = int(size * rng.uniform(0.6, 0.85))
    rgb_o, m_o = render_product(spec, rng, obj_size)
    c = size // 2 + rng.integers(-size // 10, size // 10 + 1, size=2)
    amodal, _ = _place(m_o, size, size, int(c[0]), int(c[1]))
    rgb_full = np.zeros((size, size, 3), np.float32)
    x0, y0 = int(c[0]) - obj_size // 2, int(c[1]) - obj_size // 2
    sx0, sy0, dx0, dy0 = max(0, -x0), max(0, -y0), max(0, x0), max(0, y0)
    dx1, dy1 = min(size, x0 + obj_size), min(size, y0 + obj_size)
    rgb_full[dy0:dy1, dx0:dx1] = rgb_o[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
    bg[amodal] = rgb_full[amodal]
    return np.clip(bg, 0, 255).astype(np.uint8), amodal


def generate_bop(
    root: str | Path,
    n_objects: int = 6,
    n_scenes: int = 2,
    images_per_scene: int = 4,
    seed: int = 0,
    image_size: tuple[int, int] = (360, 480),
    objects_per_image: tuple[int, int] = (3, 5),
    onboarding_views: int = 4,
    onboarding_size: int = 160,
    splits: tuple[str, ...] = ("test",),
) -> dict[str, Any]:
    """Write a BOP-format dataset of generated objects under ``root`` (created).

    Args:
        root: output folder.
        n_objects: number of objects (obj ids 1..n, product ``P{i-1:04d}`` of ``make_catalog(n, seed)``).
        n_scenes, images_per_scene: per split.
        seed: makes everything deterministic.
        image_size: (H, W) of scene images.
        objects_per_image: (min, max) objects per scene image.
        onboarding_views: images per static side (up/down) and per dynamic object.
        onboarding_size: side of onboarding images.
        splits: split folders to write (each gets its own ``<split>_targets_bop19/24.json``).

    Returns:
        summary: counts of images, GT instances, instances with visib_fract < 0.1, onboarding images.
    """
    root = Path(root)
    rng = np.random.default_rng([seed, 4_242])
    specs = make_catalog(n_objects, seed)
    h, w = image_size
    f = 0.9 * w
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], dtype=np.float64)
    write_json_atomic(root / "camera.json", {"cx": w / 2, "cy": h / 2, "fx": f, "fy": f, "width": w, "height": h,
                                             "depth_scale": DEPTH_SCALE})
    models_info = {}
    for i, spec in enumerate(specs, start=1):
        size_x = 120.0 * min(1.0, spec.aspect)
        size_y = 120.0 * min(1.0, 1 / spec.aspect)
        models_info[str(i)] = {"diameter": float(np.hypot(size_x, size_y)), "min_x": -size_x / 2, "min_y": -size_y / 2,
                               "min_z": -20.0, "size_x": size_x, "size_y": size_y, "size_z": 40.0}
    write_json_atomic(root / "models" / "models_info.json", models_info)
    summary: dict[str, Any] = {"root": str(root), "objects": n_objects, "images": 0, "gt_instances": 0,
                               "gt_below_visib_0.1": 0, "onboarding_static_images": 0, "onboarding_dynamic_images": 0}
    for split in splits:
        targets19, targets24 = [], []
        for scene_id in range(1, n_scenes + 1):
            sdir = root / split / f"{scene_id:06d}"
            scene_gt, scene_info, scene_cam = {}, {}, {}
            for im_id in range(images_per_scene):
                rgb, depth, gts, infos, amodals, visibs = _scene_image(specs, rng, h, w, K, objects_per_image)
                _write_png(sdir / "rgb" / f"{im_id:06d}.png", rgb)
                _write_png(sdir / "depth" / f"{im_id:06d}.png", np.round(depth / DEPTH_SCALE).astype(np.uint16))
                for gt_idx, (am, vi) in enumerate(zip(amodals, visibs, strict=True)):
                    _write_png(sdir / "mask" / f"{im_id:06d}_{gt_idx:06d}.png", am.astype(np.uint8) * 255)
                    _write_png(sdir / "mask_visib" / f"{im_id:06d}_{gt_idx:06d}.png", vi.astype(np.uint8) * 255)
                scene_gt[str(im_id)] = gts
                scene_info[str(im_id)] = infos
                scene_cam[str(im_id)] = {"cam_K": K.ravel().tolist(), "depth_scale": DEPTH_SCALE}
                counts: dict[int, int] = {}
                for g, info in zip(gts, infos, strict=True):
                    if info["visib_fract"] >= 0.1:
                        counts[g["obj_id"]] = counts.get(g["obj_id"], 0) + 1
                targets19 += [{"scene_id": scene_id, "im_id": im_id, "obj_id": o, "inst_count": c} for o, c in sorted(counts.items())]
                targets24.append({"scene_id": scene_id, "im_id": im_id})
                summary["images"] += 1
                summary["gt_instances"] += len(gts)
                summary["gt_below_visib_0.1"] += sum(1 for i in infos if i["visib_fract"] < 0.1)
            write_json_atomic(sdir / "scene_gt.json", scene_gt)
            write_json_atomic(sdir / "scene_gt_info.json", scene_info)
            write_json_atomic(sdir / "scene_camera.json", scene_cam)
        write_json_atomic(root / f"{split}_targets_bop19.json", targets19)
        write_json_atomic(root / f"{split}_targets_bop24.json", targets24)
    for i, spec in enumerate(specs, start=1):
        for side in ("up", "down"):
            folder = root / "onboarding_static" / f"obj_{i:06d}_{side}"
            for v in range(onboarding_views):
                rgb, mask = _onboarding_view(spec, rng, onboarding_size)
                _write_png(folder / "rgb" / f"{v:06d}.png", rgb)
                _write_png(folder / "mask_visib" / f"{v:06d}_000000.png", mask.astype(np.uint8) * 255)
                summary["onboarding_static_images"] += 1
        folder = root / "onboarding_dynamic" / f"obj_{i:06d}"
        for v in range(onboarding_views):
            rgb, mask = _onboarding_view(spec, rng, onboarding_size)
            _write_png(folder / "rgb" / f"{v:06d}.png", rgb)
            if v == 0:
                _write_png(folder / "mask_visib" / f"{v:06d}_000000.png", mask.astype(np.uint8) * 255)
            summary["onboarding_dynamic_images"] += 1
    return summary
