"""Procedurally generated products and an ArmBench-format fixture dataset.

Tests, the quickstart and the vision pipeline need object images whose identity is known and that no
download provides. :func:`make_catalog` describes ``n`` distinct products (shape, two colours, a surface
texture, a printed label with text); :func:`render_product` draws one random view of a product (pose,
scale, perspective, lighting and blur change per view); :func:`generate_armbench` writes a small dataset
in the exact ``armbench-object-id-0.1`` layout (see ``armbench.py``) with disjoint train and test products.

Everything is deterministic for a seed and uses only NumPy and OpenCV (no torch), so it is fast.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SHAPES = ("box", "rounded", "ellipse", "circle", "triangle", "hexagon", "star", "bottle", "pouch", "diamond")
TEXTURES = ("plain", "stripes", "dots", "checker", "gradient", "waves", "grid", "speckle")
FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)
# A deliberately small palette: many products share colours, so identity needs shape, texture and text.
PALETTE = (
    (220, 40, 40), (40, 90, 200), (40, 160, 70), (240, 200, 40), (245, 245, 240), (30, 30, 35),
    (250, 130, 30), (140, 60, 170), (120, 80, 50), (60, 190, 200), (230, 110, 160), (150, 150, 155),
)
AFTER_PICK_VIEWS = ("ToteWallRGB.jpg", "OnArmLowRGB.jpg", "FarTrayRGB.jpg")
_SYLLABLES = ("KO", "ZA", "MI", "RU", "TEX", "NO", "VA", "LI", "PRO", "BE", "QU", "SO", "DA", "XI", "FE", "GU")


@dataclass(frozen=True)
class ProductSpec:
    """How one generated product looks.

    Attributes:
        product_id: e.g. ``"P0007"``.
        shape: one of :data:`SHAPES` (outline of the object seen from the front).
        aspect: width / height of the outline, in [0.55, 1.6].
        base_color: RGB of the body.
        accent_color: RGB of the texture pattern.
        texture: one of :data:`TEXTURES`.
        texture_scale: pattern period as a fraction of the object size.
        texture_angle: pattern orientation in degrees.
        label_text: text printed on the label (2-7 characters).
        label_color: RGB of the text.
        label_bg: RGB of the label background.
        font: OpenCV Hershey font id.
        label_pos: vertical label centre as a fraction of the object height (0.3-0.7).
    """

    product_id: str
    shape: str
    aspect: float
    base_color: tuple[int, int, int]
    accent_color: tuple[int, int, int]
    texture: str
    texture_scale: float
    texture_angle: float
    label_text: str
    label_color: tuple[int, int, int]
    label_bg: tuple[int, int, int]
    font: int
    label_pos: float


def _pick_color(rng: np.random.Generator, avoid: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    while True:
        base = np.array(PALETTE[int(rng.integers(len(PALETTE)))], dtype=np.int32)
        color = tuple(int(c) for c in np.clip(base + rng.integers(-18, 19, size=3), 0, 255))
        if avoid is None or np.abs(np.array(color) - np.array(avoid)).sum() > 120:
            return color  # type: ignore[return-value]


def make_catalog(n_products: int, seed: int) -> list[ProductSpec]:
    """``n_products`` distinct product descriptions, deterministic for ``seed``; ids ``"P0000"``, ... ."""
    if n_products < 1:
        raise ValueError(f"n_products must be >= 1, got {n_products}")
    rng = np.random.default_rng([seed, 7_301])
    specs: list[ProductSpec] = []
    seen: set[tuple[str, str, tuple[int, int, int], str]] = set()
    while len(specs) < n_products:
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
        base = _pick_color(rng)
        accent = _pick_color(rng, avoid=base)
        n_syll = int(rng.integers(1, 4))
        text = "".join(_SYLLABLES[int(rng.integers(len(_SYLLABLES)))] for _ in range(n_syll))
        if rng.random() < 0.5:
            text += str(int(rng.integers(1, 99)))
        text = text[:7]
        key = (shape, texture, base, text)
        if key in seen:
            continue
        seen.add(key)
        label_bg = _pick_color(rng)
        specs.append(
            ProductSpec(
                product_id=f"P{len(specs):04d}",
                shape=shape,
                aspect=float(np.exp(rng.uniform(np.log(0.55), np.log(1.6)))),
                base_color=base,
                accent_color=accent,
                texture=texture,
                texture_scale=float(rng.uniform(0.06, 0.2)),
                texture_angle=float(rng.uniform(0, 180)),
                label_text=text,
                label_color=_pick_color(rng, avoid=label_bg),
                label_bg=label_bg,
                font=FONTS[int(rng.integers(len(FONTS)))],
                label_pos=float(rng.uniform(0.3, 0.7)),
            )
        )
    return specs


def _shape_mask(spec: ProductSpec, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Filled outline (size, size) uint8 {0, 255} and its box (x0, y0, x1, y1), object centred."""
    mask = np.zeros((size, size), np.uint8)
    extent = 0.84 * size
    w, h = (extent, extent / spec.aspect) if spec.aspect >= 1 else (extent * spec.aspect, extent)
    cx, cy = size / 2, size / 2
    x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    def poly(points: list[tuple[float, float]]) -> None:
        cv2.fillPoly(mask, [np.round(np.array(points)).astype(np.int32)], 255, lineType=cv2.LINE_AA)

    s = spec.shape
    if s == "box":
        poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    elif s == "rounded":
        r = 0.2 * min(w, h)
        cv2.rectangle(mask, (int(x0 + r), int(y0)), (int(x1 - r), int(y1)), 255, -1)
        cv2.rectangle(mask, (int(x0), int(y0 + r)), (int(x1), int(y1 - r)), 255, -1)
        for px, py in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
            cv2.circle(mask, (int(px), int(py)), int(r), 255, -1, lineType=cv2.LINE_AA)
    elif s == "ellipse":
        cv2.ellipse(mask, (int(cx), int(cy)), (int(w / 2), int(h / 2)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    elif s == "circle":
        r = min(w, h) / 2
        cv2.circle(mask, (int(cx), int(cy)), int(r), 255, -1, lineType=cv2.LINE_AA)
        x0, y0, x1, y1 = cx - r, cy - r, cx + r, cy + r
    elif s == "triangle":
        poly([(cx, y0), (x1, y1), (x0, y1)])
    elif s == "hexagon":
        ang = np.deg2rad(np.arange(6) * 60)
        poly([(cx + w / 2 * np.cos(a), cy + h / 2 * np.sin(a)) for a in ang])
    elif s == "star":
        ang = np.deg2rad(np.arange(10) * 36 - 90)
        rad = np.where(np.arange(10) % 2 == 0, 1.0, 0.5)
        poly([(cx + w / 2 * r * np.cos(a), cy + h / 2 * r * np.sin(a)) for a, r in zip(ang, rad, strict=True)])
    elif s == "bottle":
        neck = 0.3 * w
        poly([(cx - neck / 2, y0), (cx + neck / 2, y0), (cx + neck / 2, y0 + 0.25 * h), (x1, y0 + 0.4 * h),
              (x1, y1), (x0, y1), (x0, y0 + 0.4 * h), (cx - neck / 2, y0 + 0.25 * h)])
    elif s == "pouch":
        poly([(x0 + 0.15 * w, y0), (x1 - 0.15 * w, y0), (x1, y1), (x0, y1)])
    elif s == "diamond":
        poly([(cx, y0), (x1, cy), (cx, y1), (x0, cy)])
    else:
        raise ValueError(f"unknown shape {s!r}")
    return mask, (int(x0), int(y0), int(x1), int(y1))


def _texture(spec: ProductSpec, size: int) -> np.ndarray:
    """The product's surface pattern (size, size, 3) uint8; identical for every view of a product."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    theta = np.deg2rad(spec.texture_angle)
    u = xx * np.cos(theta) + yy * np.sin(theta)
    v = -xx * np.sin(theta) + yy * np.cos(theta)
    period = spec.texture_scale
    t = spec.texture
    if t == "plain":
        weight = np.zeros_like(u)
    elif t == "stripes":
        weight = (np.mod(u / period, 1.0) < 0.45).astype(np.float32)
    elif t == "dots":
        du, dv = np.mod(u / period, 1.0) - 0.5, np.mod(v / period, 1.0) - 0.5
        weight = (du**2 + dv**2 < 0.09).astype(np.float32)
    elif t == "checker":
        weight = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    elif t == "gradient":
        weight = np.clip(u * 1.3 - 0.15, 0, 1)
    elif t == "waves":
        weight = (np.sin(2 * np.pi * (u / period + 0.15 * np.sin(2 * np.pi * v / (3 * period)))) > 0).astype(np.float32)
    elif t == "grid":
        fu, fv = np.mod(u / period, 1.0), np.mod(v / period, 1.0)
        weight = ((fu < 0.18) | (fv < 0.18)).astype(np.float32)
    elif t == "speckle":
        srng = np.random.default_rng(int(spec.product_id[1:]) * 31 + 5)
        cells = max(4, int(1 / period))
        weight = cv2.resize((srng.random((cells, cells)) > 0.6).astype(np.float32), (size, size),
                            interpolation=cv2.INTER_NEAREST)
    else:
        raise ValueError(f"unknown texture {t!r}")
    base = np.array(spec.base_color, np.float32)
    accent = np.array(spec.accent_color, np.float32)
    return (base * (1 - weight[..., None]) + accent * weight[..., None]).astype(np.uint8)


def _canonical(spec: ProductSpec, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Front view, centred: RGB (size, size, 3) uint8 and mask (size, size) uint8 {0..255}."""
    mask, (x0, y0, x1, y1) = _shape_mask(spec, size)
    img = _texture(spec, size)
    w, h = x1 - x0, y1 - y0
    # Label: a band across the object with the product's text, scaled to fit the band.
    band_h = max(6, int(0.26 * h))
    cy = int(y0 + spec.label_pos * h)
    ly0, ly1 = max(y0, cy - band_h // 2), min(y1, cy + band_h // 2)
    lx0, lx1 = int(x0 + 0.08 * w), int(x1 - 0.08 * w)
    cv2.rectangle(img, (lx0, ly0), (lx1, ly1), spec.label_bg, -1)
    (tw, th), _ = cv2.getTextSize(spec.label_text, spec.font, 1.0, 2)
    scale = max(0.2, min((lx1 - lx0) * 0.9 / max(tw, 1), (ly1 - ly0) * 0.75 / max(th, 1)))
    thickness = max(1, int(round(scale * 2)))
    (tw, th), _ = cv2.getTextSize(spec.label_text, spec.font, scale, thickness)
    org = ((lx0 + lx1 - tw) // 2, (ly0 + ly1 + th) // 2)
    cv2.putText(img, spec.label_text, org, spec.font, scale, spec.label_color, thickness, cv2.LINE_AA)
    # A thin darker rim makes the outline visible on any background.
    edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    img[edge > 0] = (img[edge > 0] * 0.55).astype(np.uint8)
    return img, mask


def render_product(spec: ProductSpec, rng: np.random.Generator, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """One random view of ``spec`` alone.

    Returns:
        rgb: (size, size, 3) uint8; pixels outside the mask are undefined (black here).
        mask: (size, size) bool, True on the object.
    The view changes in-plane rotation (any angle), scale (object spans 55-95 % of the image), a mild
    perspective tilt, brightness/contrast/colour cast, a directional shading gradient, an optional
    specular highlight and an optional blur.
    """
    img, mask = _canonical(spec, size)
    scale = rng.uniform(0.62, 1.08)
    angle = rng.uniform(-180, 180)
    rot = np.asarray(cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale), dtype=np.float64)
    rot[:, 2] += rng.uniform(-0.05, 0.05, size=2) * size
    src = np.array([[0, 0], [size, 0], [size, size], [0, size]], dtype=np.float32)
    jitter = rng.uniform(-0.07, 0.07, size=(4, 2)).astype(np.float32) * size
    persp = cv2.getPerspectiveTransform(src, src + jitter)
    full = persp @ np.vstack([rot, [0, 0, 1]])
    img = cv2.warpPerspective(img, full, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpPerspective(mask, full, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)

    out = img.astype(np.float32)
    gain = rng.uniform(0.65, 1.3)
    cast = rng.uniform(0.9, 1.1, size=3)
    direction = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    shading = 1.0 + rng.uniform(0.0, 0.45) * (xx * np.cos(direction) + yy * np.sin(direction))
    out = out * gain * cast[None, None, :] * shading[..., None]
    if rng.random() < 0.4:  # specular highlight
        hx, hy = rng.uniform(0.25, 0.75, size=2) * size
        r2 = ((xx + 0.5) * size - hx) ** 2 + ((yy + 0.5) * size - hy) ** 2
        out += 120 * np.exp(-r2 / (2 * (0.08 * size) ** 2))[..., None]
    gamma = rng.uniform(0.8, 1.25)
    out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma
    rgb = out.astype(np.uint8)
    if rng.random() < 0.3:
        k = int(rng.choice([3, 5]))
        rgb = cv2.GaussianBlur(rgb, (k, k), 0)
    bool_mask = mask > 127
    rgb[~bool_mask] = 0
    return rgb, bool_mask


# ----------------------------------------------------------------------------------------- scenes
def _noise_background(rng: np.random.Generator, h: int, w: int, color: np.ndarray, amp: float) -> np.ndarray:
    small = rng.normal(0, amp, size=(max(2, h // 8), max(2, w // 8), 3)).astype(np.float32)
    noise = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(color[None, None, :] + noise, 0, 255).astype(np.float32)


def _tote(rng: np.random.Generator, size: int) -> np.ndarray:
    """A tote seen from above: coloured floor, darker walls, noise; float32 (size, size, 3)."""
    colors = np.array([(40, 70, 140), (70, 70, 75), (25, 25, 28), (150, 40, 40), (200, 190, 60)], np.float32)
    color = colors[int(rng.integers(len(colors)))] * rng.uniform(0.8, 1.15)
    bg = _noise_background(rng, size, size, color, 10.0)
    wall = int(size * rng.uniform(0.06, 0.12))
    for i in range(wall):
        f = 0.55 + 0.45 * i / wall
        bg[i, :] *= f
        bg[-1 - i, :] *= f
        bg[:, i] *= f
        bg[:, -1 - i] *= f
    return bg


def _paste(canvas: np.ndarray, rgb: np.ndarray, mask: np.ndarray, cx: int, cy: int) -> tuple[int, int, int, int]:
    """Composite ``rgb`` where ``mask`` centred at (cx, cy) into ``canvas`` in place; returns the xywh box."""
    h, w = mask.shape
    H, W = canvas.shape[:2]
    x0, y0 = cx - w // 2, cy - h // 2
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(W, x0 + w), min(H, y0 + h)
    if dx1 <= dx0 or dy1 <= dy0:
        return (0, 0, 0, 0)
    sub_m = mask[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
    sub_rgb = rgb[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0].astype(np.float32)
    region = canvas[dy0:dy1, dx0:dx1]
    region[sub_m] = sub_rgb[sub_m]
    ys, xs = np.nonzero(sub_m)
    if len(xs) == 0:
        return (0, 0, 0, 0)
    return (int(dx0 + xs.min()), int(dy0 + ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))


def _pick_scene(spec: ProductSpec, others: list[ProductSpec], rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[int]]:
    """Pre-pick image: the target on top of clutter from the same tote; returns RGB uint8 and its xywh box."""
    canvas = _tote(rng, size)
    for other in others:
        s = int(size * rng.uniform(0.3, 0.5))
        rgb, m = render_product(other, rng, s)
        _paste(canvas, rgb, m, int(rng.uniform(0.15, 0.85) * size), int(rng.uniform(0.15, 0.85) * size))
    s = int(size * rng.uniform(0.45, 0.62))
    rgb, m = render_product(spec, rng, s)
    box = _paste(canvas, rgb, m, int(rng.uniform(0.38, 0.62) * size), int(rng.uniform(0.38, 0.62) * size))
    return np.clip(canvas, 0, 255).astype(np.uint8), list(box)


def _after_pick_view(spec: ProductSpec, view: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """An after-pick view: the object held by the arm in front of a wall, low on the arm, or far on a tray."""
    if view == "ToteWallRGB.jpg":
        bg = _noise_background(rng, size, size, np.array((180, 180, 175), np.float32) * rng.uniform(0.7, 1.1), 14)
        frac, cy = rng.uniform(0.5, 0.7), rng.uniform(0.45, 0.6)
    elif view == "OnArmLowRGB.jpg":
        bg = _noise_background(rng, size, size, np.array((90, 95, 100), np.float32) * rng.uniform(0.7, 1.2), 8)
        frac, cy = rng.uniform(0.55, 0.75), rng.uniform(0.55, 0.65)
    else:
        bg = _noise_background(rng, size, size, np.array((60, 120, 60), np.float32) * rng.uniform(0.7, 1.2), 10)
        frac, cy = rng.uniform(0.3, 0.45), rng.uniform(0.45, 0.6)
    rgb, m = render_product(spec, rng, int(size * frac))
    _paste(bg, rgb, m, int(rng.uniform(0.4, 0.6) * size), int(cy * size))
    if view != "FarTrayRGB.jpg":  # the gripper (a grey bar) from the top, partly over the object
        arm_w = int(size * 0.14)
        ax = int(size * rng.uniform(0.42, 0.58))
        bg[: int(size * rng.uniform(0.3, 0.45)), ax - arm_w // 2 : ax + arm_w // 2] = (110, 110, 118)
    return np.clip(bg, 0, 255).astype(np.uint8)


def _reference_view(spec: ProductSpec, rng: np.random.Generator, size: int) -> np.ndarray:
    """A studio reference photo: the product on a light, plain background."""
    bg = _noise_background(rng, size, size, np.full(3, rng.uniform(215, 250), np.float32), 3)
    rgb, m = render_product(spec, rng, int(size * rng.uniform(0.75, 0.95)))
    _paste(bg, rgb, m, size // 2, size // 2)
    return np.clip(bg, 0, 255).astype(np.uint8)


def _write_jpg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(buf.tobytes())


def generate_armbench(
    root: Path,
    n_products: int,
    n_picks: int,
    seed: int,
    image_size: int = 128,
    test_fraction: float = 0.35,
    tote_size: tuple[int, int] = (3, 6),
) -> dict[str, Any]:
    """Write an ArmBench object-identification dataset of generated products under ``root``.

    Layout (as ``armbench-object-id-0.1``): ``Picks/<pick_id>/PickRGB.jpg`` (+ a random subset of
    ``ToteWallRGB.jpg``, ``OnArmLowRGB.jpg``, ``FarTrayRGB.jpg``), ``container.json`` (dict keyed by product
    id), ``annotation.json`` (``{"GT_ID": ..., "bbox_xywh": [...]}``); ``Reference_Images/<pid>/1.jpg..N.jpg``
    with 0 <= N <= 6 (about one product in twelve has none); ``train-test-split.pickle`` with
    ``trainset``/``testset`` (pick ids) and ``trainset-objects``/``testset-objects`` (product ids), all lists
    of str. Test products never occur in training picks. Every ground-truth product of a pick lies in
    its container; a few picks have a ground truth without references (they count as misses).

    Args:
        root: output folder (created; existing files with the same names are replaced).
        n_products: catalog size (>= 4).
        n_picks: number of picks, split between train and test in proportion to ``test_fraction``.
        seed: makes the whole dataset deterministic.
        image_size: side of every image in pixels.
        test_fraction: share of products (and picks) that form the unseen test split.
        tote_size: (min, max) number of products in a tote.

    Returns:
        summary dict: counts of products, picks and images per split, missing views and reference-less products.
    """
    if n_products < 4 or n_picks < 2:
        raise ValueError("need n_products >= 4 and n_picks >= 2")
    root = Path(root)
    rng = np.random.default_rng([seed, 11])
    catalog = make_catalog(n_products, seed)
    by_id = {s.product_id: s for s in catalog}
    order = rng.permutation(n_products)
    n_test = min(n_products - 2, max(2, int(round(test_fraction * n_products))))
    test_ids = sorted(catalog[i].product_id for i in order[:n_test])
    train_ids = sorted(catalog[i].product_id for i in order[n_test:])

    n_refs: dict[str, int] = {}
    for pid in sorted(by_id):
        n_refs[pid] = 0 if rng.random() < 1 / 12 else int(rng.integers(1, 7))
        for k in range(1, n_refs[pid] + 1):
            _write_jpg(root / "Reference_Images" / pid / f"{k}.jpg", _reference_view(by_id[pid], rng, image_size))

    n_test_picks = min(n_picks - 1, max(1, int(round(test_fraction * n_picks))))
    splits: dict[str, list[str]] = {"trainset": [], "testset": []}
    missing_views = 0
    for i in range(n_picks):
        split = "testset" if i < n_test_picks else "trainset"
        pool = test_ids if split == "testset" else train_ids
        k = min(len(pool), int(rng.integers(tote_size[0], tote_size[1] + 1)))
        container = [pool[j] for j in sorted(rng.choice(len(pool), size=k, replace=False))]
        with_refs = [p for p in container if n_refs[p] > 0]
        gt = with_refs[int(rng.integers(len(with_refs)))] if with_refs and rng.random() > 0.03 else container[0]
        pick_id = f"{int(rng.integers(16**10)):010x}"
        pick_dir = root / "Picks" / pick_id
        others = [by_id[p] for p in container if p != gt]
        pick_rgb, box = _pick_scene(by_id[gt], others, rng, image_size)
        _write_jpg(pick_dir / "PickRGB.jpg", pick_rgb)
        for view in AFTER_PICK_VIEWS:
            if rng.random() < 0.2:
                missing_views += 1
                continue
            _write_jpg(pick_dir / view, _after_pick_view(by_id[gt], view, rng, image_size))
        container_json = {
            p: {
                "description": f"{by_id[p].label_text} {by_id[p].shape}",
                "weight": round(float(rng.uniform(0.05, 2.0)), 3),
                "dimensions": [round(float(v), 1) for v in rng.uniform(2, 30, size=3)],
            }
            for p in container
        }
        (pick_dir / "container.json").write_text(json.dumps(container_json, indent=1))
        (pick_dir / "annotation.json").write_text(json.dumps({"GT_ID": gt, "bbox_xywh": box}))
        splits[split].append(pick_id)

    split_data = {
        "trainset": splits["trainset"],
        "testset": splits["testset"],
        "trainset-objects": train_ids,
        "testset-objects": test_ids,
    }
    (root / "train-test-split.pickle").write_bytes(pickle.dumps(split_data, protocol=4))
    return {
        "root": str(root),
        "products": n_products,
        "train_products": len(train_ids),
        "test_products": len(test_ids),
        "picks": n_picks,
        "train_picks": len(splits["trainset"]),
        "test_picks": len(splits["testset"]),
        "reference_images": int(sum(n_refs.values())),
        "products_without_references": int(sum(1 for v in n_refs.values() if v == 0)),
        "missing_after_pick_views": missing_views,
        "image_size": image_size,
    }
