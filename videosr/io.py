"""Video input: decode any PyAV-readable video or a folder of frames, crop HR, make the LR input.

HR frames are ``(H, W, 3) uint8 RGB``. The LR input is either the MATLAB-like antialiased bicubic
downscale of HR (:func:`imresize_down`), or a separate LR video (``--lr-video``); optionally it is then
re-encoded with H.264 at a given CRF (``--lr-crf``) to model what a phone really receives. The LR frames
are quantised to uint8 exactly as they are stored in the run folder, so the models see what the
client replays.

Frames that fail to decode are skipped and counted (``DecodedVideo.corrupt``); a file that cannot be
opened or yields no frame is a :class:`UserError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision.common.errors import UserError
from vision.common.progress import get_logger

log = get_logger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class DecodedVideo:
    """Decoded frames: ``frames`` list of (H, W, 3) uint8 RGB, ``corrupt`` frames skipped, ``fps``;
    ``indices`` the position of each kept frame in the file (or folder), to align two inputs."""

    frames: list[np.ndarray]
    corrupt: int
    fps: float
    source: str
    indices: list[int] = field(default_factory=list)


def _select(start: int, count: int | None, index: int) -> tuple[bool, bool]:
    """(take this frame, stop after it) for frame ``index`` of a [start, start+count) window."""
    take = index >= start and (count is None or index < start + count)
    stop = count is not None and index >= start + count - 1
    return take, stop


def _read_folder(folder: Path, start: int, count: int | None) -> DecodedVideo:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError("frames folder holds no image files (png, jpg, bmp, tif, webp)", folder)
    frames: list[np.ndarray] = []
    indices: list[int] = []
    corrupt = 0
    for i, f in enumerate(files):
        take, stop = _select(start, count, i)
        if take:
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                corrupt += 1
                log.warning("%s: unreadable frame skipped", f)
            else:
                frames.append(np.ascontiguousarray(bgr[..., ::-1]))
                indices.append(i)
        if stop:
            break
    return _drop_other_sizes(DecodedVideo(frames=frames, corrupt=corrupt, fps=25.0, source=str(folder), indices=indices))


def _read_video(path: Path, start: int, count: int | None) -> DecodedVideo:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot open video: {err}", path) from err
    frames: list[np.ndarray] = []
    indices: list[int] = []
    corrupt = 0
    index = 0
    try:
        if not container.streams.video:
            raise UserError("file has no video stream", path)
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else 25.0
        done = False
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:  # a corrupt packet: its frame is lost
                take, stop = _select(start, count, index)
                corrupt += int(take)
                index += 1
                if stop:
                    break
                continue
            for frame in decoded:
                take, stop = _select(start, count, index)
                if take:
                    if frame.is_corrupt:
                        corrupt += 1
                    else:
                        frames.append(frame.to_ndarray(format="rgb24"))
                        indices.append(index)
                index += 1
                if stop:
                    done = True
                    break
            if done:
                break
    except av.error.FFmpegError as err:
        raise UserError(f"cannot decode video: {err}", path) from err
    finally:
        container.close()
    return _drop_other_sizes(DecodedVideo(frames=frames, corrupt=corrupt, fps=fps, source=str(path), indices=indices))


def _drop_other_sizes(video: DecodedVideo) -> DecodedVideo:
    """Keep only frames of the first frame's size (a mid-stream resolution change), counting the rest."""
    if len({f.shape for f in video.frames}) <= 1:
        return video
    first = video.frames[0].shape
    keep = [i for i, f in enumerate(video.frames) if f.shape == first]
    dropped = len(video.frames) - len(keep)
    log.warning("%s: %d frames with a different size skipped", video.source, dropped)
    return DecodedVideo(
        frames=[video.frames[i] for i in keep], corrupt=video.corrupt + dropped, fps=video.fps, source=video.source,
        indices=[video.indices[i] for i in keep],
    )


def read_frames(path: str | os.PathLike[str], start: int = 0, frames: int | None = None) -> DecodedVideo:
    """Decode frames ``[start, start+frames)`` of a video file or a folder of images (sorted by name).

    Raises :class:`UserError` when the input does not exist, cannot be opened, or yields no frame.
    """
    p = Path(path)
    if start < 0 or (frames is not None and frames < 1):
        raise UserError(f"--start must be >= 0 and --frames >= 1 (got {start}, {frames})")
    if not p.exists():
        raise UserError("video does not exist", p)
    video = _read_folder(p, start, frames) if p.is_dir() else _read_video(p, start, frames)
    if not video.frames:
        extra = f" ({video.corrupt} corrupt)" if video.corrupt else ""
        raise UserError(f"no decodable frames from frame {start}{extra}", p)
    if video.corrupt:
        log.warning("%s: %d corrupt frames skipped", p, video.corrupt)
    return video


def crop_to_multiple(frames: list[np.ndarray], multiple_h: int, multiple_w: int, source: str = "") -> list[np.ndarray]:
    """Crop frames (bottom/right) so H % multiple_h == 0 and W % multiple_w == 0, warning when it crops."""
    h, w = frames[0].shape[:2]
    nh, nw = h - h % multiple_h, w - w % multiple_w
    if nh == 0 or nw == 0:
        raise UserError(f"frames of {h}x{w} are smaller than one {multiple_h}x{multiple_w} block", source or None)
    if (nh, nw) != (h, w):
        log.warning("%s: cropping frames from %dx%d to %dx%d so they divide evenly", source, h, w, nh, nw)
        frames = [np.ascontiguousarray(f[:nh, :nw]) for f in frames]
    return frames


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys cubic kernel with a = -0.5 (MATLAB ``imresize`` bicubic)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1) + (a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a) * ((ax > 1) & (ax <= 2))


def resize_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 matrix of MATLAB-like antialiased bicubic weights for one axis.

    Output sample i sits at input coordinate ``(i + 0.5) * n_in / n_out - 0.5``; when downscaling the
    kernel is widened by the scale (antialiasing); edges use symmetric (mirror) padding; rows sum to 1.
    """
    scale = n_out / n_in
    kscale = min(1.0, scale)
    width = 4.0 / kscale
    centre = (np.arange(n_out) + 0.5) / scale - 0.5
    left = np.floor(centre - width / 2).astype(int)
    taps = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    w = kscale * _cubic(kscale * (centre[:, None] - idx))
    w /= w.sum(axis=1, keepdims=True)
    period = 2 * n_in
    mirrored = np.mod(idx, period)
    mirrored = np.where(mirrored >= n_in, period - 1 - mirrored, mirrored)
    mat = np.zeros((n_out, n_in), np.float64)
    np.add.at(mat, (np.repeat(np.arange(n_out), taps), mirrored.ravel()), w.ravel())
    return mat


def imresize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """MATLAB-like bicubic resize of (H, W, 3) uint8 to (out_h, out_w, 3) uint8 (antialiased when shrinking)."""
    h, w = img.shape[:2]
    wh, ww = resize_weights(h, out_h), resize_weights(w, out_w)
    y = np.tensordot(wh, img.astype(np.float64), axes=(1, 0))  # (out_h, W, 3)
    y = np.tensordot(ww, y, axes=(1, 1)).transpose(1, 0, 2)  # (out_h, out_w, 3)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def imresize_down(img: np.ndarray, factor: int) -> np.ndarray:
    """Antialiased bicubic downscale by an integer factor, like MATLAB ``imresize(img, 1/factor)``.

    Args:
        img: (H, W, 3) uint8 with H and W divisible by ``factor``.
    Returns:
        (H/factor, W/factor, 3) uint8 (rounded, clipped).
    """
    h, w = img.shape[:2]
    if h % factor or w % factor:
        raise ValueError(f"image {h}x{w} is not divisible by {factor}")
    return imresize(img, h // factor, w // factor)


def mux_h264(container: Any, frames: Sequence[np.ndarray], rate: int, crf: int, codec: str = "libx264") -> None:
    """Encode (h, w, 3) uint8 RGB ``frames`` into an open PyAV output ``container`` and flush the encoder.

    Uses yuv420p when h and w are even (what players expect), yuv444p otherwise; the caller closes the
    container.
    """
    import av

    h, w = frames[0].shape[:2]
    stream: Any = container.add_stream(codec, rate=rate)
    stream.width, stream.height = w, h
    stream.pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
    stream.options = {"crf": str(crf), "preset": "veryfast"}
    for f in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def reencode_h264(frames: list[np.ndarray], crf: int, fps: float = 25.0) -> list[np.ndarray]:
    """Round-trip (h, w, 3) uint8 frames through H.264 at ``crf`` (libx264, in memory); same size out."""
    import io

    import av

    buf = io.BytesIO()
    container = av.open(buf, "w", format="matroska")
    mux_h264(container, frames, max(1, round(fps)), crf)
    container.close()
    buf.seek(0)
    with av.open(buf, "r") as reader:
        out = [fr.to_ndarray(format="rgb24") for fr in reader.decode(video=0)]
    if len(out) != len(frames):
        raise RuntimeError(f"H.264 round trip returned {len(out)} of {len(frames)} frames")
    return out


@dataclass
class VideoPair:
    """HR frames and the LR input the models see, plus facts for the report."""

    hr: list[np.ndarray]  # (H, W, 3) uint8 each
    lr: list[np.ndarray]  # (H/s, W/s, 3) uint8 each
    scale: int
    corrupt: int
    fps: float
    cropped_from: tuple[int, int]


def load_pair(
    video: str | os.PathLike[str],
    scale: int,
    start: int = 0,
    frames: int | None = None,
    multiple: tuple[int, int] = (1, 1),
    lr_video: str | os.PathLike[str] | None = None,
    lr_crf: int | None = None,
) -> VideoPair:
    """Decode HR, crop it to a multiple of ``scale * multiple`` (rows, cols), and build the LR input.

    With ``lr_video`` the LR frames come from that video (same frames window; it must be exactly the
    HR size / scale before HR cropping, or after). Both must hold the same number of frame positions
    (decoded or corrupt), else a :class:`UserError`; a position corrupt in either is skipped in both
    (the pair stays aligned by position) and counted once in ``corrupt``.
    """
    if scale not in (2, 3, 4):
        raise UserError(f"--scale must be 2, 3 or 4, got {scale}")
    dec = read_frames(video, start, frames)
    h0, w0 = dec.frames[0].shape[:2]
    hr = crop_to_multiple(dec.frames, scale * multiple[0], scale * multiple[1], str(video))
    h, w = hr[0].shape[:2]
    corrupt = dec.corrupt
    if lr_video is not None:
        lr_dec = read_frames(lr_video, start, frames)
        hr_seen, lr_seen = len(hr) + dec.corrupt, len(lr_dec.frames) + lr_dec.corrupt
        if lr_seen != hr_seen:
            raise UserError(f"LR video gives {lr_seen} frames but the HR video {hr_seen}", lr_video)
        lh, lw = lr_dec.frames[0].shape[:2]
        if (lh, lw) not in ((h // scale, w // scale), (h0 // scale, w0 // scale)):
            raise UserError(f"LR frames are {lh}x{lw}; expected {h // scale}x{w // scale} for x{scale}", lr_video)
        both = sorted(set(dec.indices) & set(lr_dec.indices))
        if not both:
            raise UserError("no frame decodes in both the HR video and the LR video", lr_video)
        hr_at = dict(zip(dec.indices, hr, strict=True))
        lr_at = dict(zip(lr_dec.indices, lr_dec.frames, strict=True))
        hr = [hr_at[i] for i in both]
        lr = [np.ascontiguousarray(lr_at[i][: h // scale, : w // scale]) for i in both]
        corrupt = hr_seen - len(both)
    else:
        lr = [imresize_down(f, scale) for f in hr]
    if lr_crf is not None:
        if not 0 <= lr_crf <= 51:
            raise UserError(f"--lr-crf must be in [0, 51], got {lr_crf}")
        lr = reencode_h264(lr, lr_crf, dec.fps)
    return VideoPair(hr=hr, lr=lr, scale=scale, corrupt=corrupt, fps=dec.fps, cropped_from=(h0, w0))
