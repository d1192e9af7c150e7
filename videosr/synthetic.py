"""A camera-like test clip: a textured scene filmed by a panning camera, with moving objects.

The scene mixes what makes super-resolution difficulty vary across a frame: flat regions (sky gradient,
painted walls), detailed regions (brick facade with windows, grass blades over fractal noise, lettering,
stripes) and moving textured objects. The camera pans and zooms slowly with sub-pixel motion; mild
sensor noise is added and the clip is encoded with H.264 like a phone recording.

Everything is deterministic for a seed. :func:`render_frames` returns the frames, :func:`write_clip`
writes them as mp4 with PyAV.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from videosr.io import mux_h264
from vision.common.atomic import atomic_path


def _fractal_noise(rng: np.random.Generator, h: int, w: int, octaves: int = 5) -> np.ndarray:
    """(h, w) float32 noise in [0, 1] with energy at many scales (sum of upsampled random grids)."""
    out = np.zeros((h, w), np.float32)
    total = 0.0
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = rng.random((cells, cells * max(1, w // h))).astype(np.float32)
        amp = 0.6**o
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
    out /= total
    return np.clip((out - out.min()) / max(1e-6, float(out.max() - out.min())), 0, 1)


def _world(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8 scene canvas, larger than a frame: sky, facade, wall, grass, lettering."""
    img = np.zeros((h, w, 3), np.float32)
    # sky: smooth vertical gradient (flat, easy)
    sky_h = int(h * 0.3)
    t = np.linspace(0, 1, sky_h, dtype=np.float32)[:, None, None]
    img[:sky_h] = (1 - t) * np.array([235, 200, 150]) + t * np.array([250, 235, 215])
    # ground: grass-like fractal noise (detailed)
    g0 = int(h * 0.75)
    noise = _fractal_noise(rng, h - g0, w, octaves=6)
    img[g0:] = noise[..., None] * np.array([60, 150, 70]) + (1 - noise[..., None]) * np.array([20, 60, 30])
    ground = np.ascontiguousarray(img[g0:])
    for _ in range((h - g0) * w // 40):  # grass blades: short anti-aliased strokes (structured detail)
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h - g0))
        length, angle = rng.uniform(3, 9), rng.uniform(-0.5, 0.5)
        x1, y1 = int(x0 + length * np.sin(angle)), int(y0 - length * np.cos(angle))
        shade = (rng.uniform(0.5, 1.4) * np.array([45, 120, 50])).tolist()
        cv2.line(ground, (x0, y0), (x1, y1), shade, 1, cv2.LINE_AA)
    img[g0:] = ground
    # middle band: alternating facades (bricks + windows) and flat painted walls
    x = 0
    while x < w:
        bw = int(rng.integers(w // 8, w // 4))
        region = img[sky_h:g0, x : x + bw]
        rh, rw = region.shape[:2]
        if rng.random() < 0.55:  # brick facade with windows
            base = rng.uniform(90, 170, 3)
            region[:] = base * 0.6
            brick_h = int(rng.integers(4, 8))
            brick_w = brick_h * 2 + int(rng.integers(0, 4))
            for r, y in enumerate(range(0, rh, brick_h)):
                off = (brick_w // 2) * (r % 2)
                for bx in range(-off, rw, brick_w):
                    shade = base * rng.uniform(0.8, 1.15)
                    cv2.rectangle(region, (bx + 1, y + 1), (bx + brick_w - 1, y + brick_h - 1), shade.tolist(), -1)
            win = int(rng.integers(10, 18))
            for wy in range(win // 2, rh - win, win * 2):
                for wx in range(win // 2, rw - win, win * 2):
                    cv2.rectangle(region, (wx, wy), (wx + win, wy + win), (40, 50, 60), -1)
                    cv2.rectangle(region, (wx, wy), (wx + win, wy + win), (230, 230, 230), 1)
                    cv2.line(region, (wx + win // 2, wy), (wx + win // 2, wy + win), (230, 230, 230), 1)
        else:  # flat painted wall with a sign carrying lettering
            region[:] = rng.uniform(120, 230, 3)
            sy, sx = int(rh * rng.uniform(0.2, 0.5)), int(rw * 0.1)
            cv2.rectangle(region, (sx, sy), (rw - sx, sy + rh // 4), (245, 245, 240), -1)
            letters = "".join(rng.choice(list("EDGEVISIONSTDO0123456789"), size=8))
            text = np.ascontiguousarray(np.clip(region, 0, 255).astype(np.uint8))
            cv2.putText(text, letters, (sx + 2, sy + rh // 6), cv2.FONT_HERSHEY_SIMPLEX, max(0.3, rh / 400), (20, 20, 20), 1, cv2.LINE_AA)
            region[:] = text
        x += bw
    # stripes (a fence) across the lower facade: high-frequency detail
    for fx in range(0, w, 6):
        cv2.line(img, (fx, g0 - h // 12), (fx, g0), (200, 190, 170), 2)
    cv2.line(img, (0, g0 - h // 12), (w, g0 - h // 12), (200, 190, 170), 2)
    return np.clip(img, 0, 255).astype(np.uint8)


def _sprite(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured object (disc with rings or striped box): RGB uint8 (size, size, 3) and float mask."""
    rgb = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    c = size // 2
    colour = rng.uniform(30, 255, 3).tolist()
    if rng.random() < 0.5:
        cv2.circle(mask, (c, c), c - 1, 255, -1, cv2.LINE_AA)
        for r in range(c - 1, 0, -4):
            cv2.circle(rgb, (c, c), r, [v * (0.5 + 0.5 * (r % 8 < 4)) for v in colour], -1, cv2.LINE_AA)
    else:
        cv2.rectangle(mask, (2, 2), (size - 3, size - 3), 255, -1)
        rgb[:] = colour
        for y in range(2, size, 5):
            cv2.line(rgb, (0, y), (size, y + size // 3), (255 - np.array(colour)).tolist(), 2, cv2.LINE_AA)
    return rgb, mask.astype(np.float32) / 255.0


def render_frames(frames: int = 30, height: int = 180, width: int = 320, seed: int = 0, noise: float = 1.0, blur: float = 0.8
) -> np.ndarray:
    """Render the clip: (frames, height, width, 3) uint8 RGB.

    The camera pans right (about 1.3 px/frame at 320 px width) with a slow sinusoidal zoom and vertical
    drift; three to four objects move on straight paths and bounce off the frame borders. Each frame is
    softened by a Gaussian of ``blur`` pixels (camera optics) and gets Gaussian sensor ``noise``.
    """
    rng = np.random.default_rng(seed)
    wh, ww = int(height * 1.4), int(width * 1.4) + int(frames * width / 240) + 16
    world = _world(rng, wh, ww)
    sprites = []
    for _ in range(int(rng.integers(3, 5))):
        size = int(rng.integers(height // 8, height // 4)) | 1
        rgb, mask = _sprite(rng, size)
        pos = np.array([rng.uniform(0, height - size), rng.uniform(0, width - size)])
        vel = rng.uniform(-1.0, 1.0, 2) * width / 160
        sprites.append((rgb, mask, pos, vel))
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        zoom = 1.0 / 1.2 * (1.0 + 0.05 * np.sin(2 * np.pi * t / max(frames, 1)))
        tx = 8 + t * width / 240
        ty = 0.15 * height + 0.05 * height * np.sin(2 * np.pi * t / max(frames, 1) + 1.0)
        m = np.array([[1 / zoom, 0, tx], [0, 1 / zoom, ty]], np.float64)  # frame -> world
        frame = cv2.warpAffine(world, m, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        for rgb, mask, pos, vel in sprites:
            size = rgb.shape[0]
            p = pos + vel * t
            for d, limit in ((0, height - size), (1, width - size)):  # bounce
                period = 2 * limit
                q = p[d] % period
                p[d] = q if q <= limit else period - q
            mshift = np.array([[1, 0, p[1]], [0, 1, p[0]]], np.float64)
            spr = cv2.warpAffine(rgb, mshift, (width, height), flags=cv2.INTER_LINEAR).astype(np.float32)
            alpha = cv2.warpAffine(mask, mshift, (width, height), flags=cv2.INTER_LINEAR)[..., None]
            frame = np.asarray(frame * (1 - alpha) + spr * alpha, np.float32)
        if blur > 0:  # lens + demosaicing softness of a real camera
            frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), blur), np.float32)
        if noise > 0:
            frame += np.asarray(rng.normal(0, noise, frame.shape), np.float32)
        out[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return out


def encode_video(path: str | os.PathLike[str], frames: np.ndarray, fps: int = 25, crf: int = 18, codec: str = "libx264") -> Path:
    """Encode (T, H, W, 3) uint8 RGB frames to ``path`` (mp4/mkv by suffix) with H.264, atomically.

    Uses yuv420p when H and W are even (what players expect), yuv444p otherwise.
    """
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3), got {frames.shape}")
    target = Path(path)
    with atomic_path(target) as tmp:
        container = av.open(str(tmp), "w", format=_format_for(target))
        try:
            mux_h264(container, list(frames), fps, crf, codec)
        finally:
            container.close()
    return target


def _format_for(path: Path) -> str:
    return {".mkv": "matroska", ".avi": "avi", ".webm": "webm", ".mov": "mov"}.get(path.suffix.lower(), "mp4")


def write_clip(
    path: str | os.PathLike[str], frames: int = 30, height: int = 180, width: int = 320, seed: int = 0, fps: int = 25, crf: int = 18
) -> Path:
    """Render the camera-like clip and write it as an H.264 mp4 at ``path``; returns the path."""
    return encode_video(path, render_frames(frames, height, width, seed), fps=fps, crf=crf)
