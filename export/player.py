"""Bundle player: reconstruct the HR video from LR frames with a mobile SR bundle, without torch.

Only onnxruntime, numpy, OpenCV/PyAV (frame I/O) and the numpy-only label-map reader are used, like an
app on the phone would: the bundle's manifest and SHA-256 hashes are checked first (a bundle whose files
do not match is refused), then every LR frame is cut into the bundle's fixed tiles
(:mod:`export.tiling`), each tile goes through the chunk model(s) that the label map assigns to its
patches, and the HR frames are encoded to MP4 (and optionally saved as lossless PNGs).

Method semantics (``manifest["models"]`` entries carry ``method`` and ``chunk``):

- ``stdo``: one model per chunk; patch ``(r, c)`` of frame ``t`` uses chunk ``labels[t, r, c]``.
- ``temporal``: one model per time segment; the ``T`` frames of the label map are split into ``n``
  consecutive near-equal segments like ``numpy.array_split`` (the videosr pipeline's convention).
- any other method (``single``, ``single_long``, ``stdo_joint``): its one model everywhere.

Run as ``edgevision play ...`` or ``python -m export.player ...``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from export.runtime import make_session
from export.tiling import TileRunner, patch_label_image, run_tiled
from vision.common.atomic import atomic_dir, atomic_path, check_can_write, write_json_atomic
from vision.common.errors import UserError, read_json, require_dir, require_file, run_with_error_convention
from vision.common.progress import track
from vision.common.runinfo import sha256_file

MANIFEST = "manifest.json"
BUNDLE_FORMAT = "edgevision-sr-bundle"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_manifest(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    """Load ``bundle/manifest.json`` (UserError when missing or malformed)."""
    root = require_dir(bundle, "SR bundle")
    path = root / MANIFEST
    manifest = read_json(path, "bundle manifest")
    for key in ("format", "scale", "tile", "overlap", "chunks", "models", "label_map", "files"):
        if key not in manifest:
            raise UserError(f"missing key '{key}'", path)
    if manifest["format"] != BUNDLE_FORMAT:
        raise UserError(f"not an SR bundle manifest (format {manifest['format']!r})", path)
    return manifest


def verify_bundle(bundle: str | os.PathLike[str], manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check every file listed in the manifest exists with the recorded size and SHA-256.

    Every file the player loads (each model's ``onnx`` and the ``label_map``) must be listed in
    ``files``, and a model entry's own ``sha256``/``bytes`` must agree with that listing, so a model
    cannot be swapped by leaving it out of ``files`` or by pointing outside the bundle.

    Returns the manifest. Raises :class:`UserError` naming the first file that is missing or differs.
    """
    root = Path(bundle)
    manifest = read_manifest(root) if manifest is None else manifest
    files = manifest["files"]
    if not isinstance(files, dict) or not isinstance(manifest["models"], list):
        raise UserError("'files' must be an object and 'models' a list", root / MANIFEST)
    for rel, info in files.items():
        path = root / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise UserError(f"manifest lists a file outside the bundle: {rel}", root / MANIFEST)
        if not path.is_file():
            raise UserError("file listed in the bundle manifest is missing", path)
        if not isinstance(info, dict) or path.stat().st_size != info.get("bytes") or sha256_file(path) != info.get("sha256"):
            raise UserError("file does not match the SHA-256 in the bundle manifest; refusing to play it", path)
    loaded = [(m.get("onnx"), m) for m in manifest["models"] if isinstance(m, dict)] + [(manifest["label_map"], None)]
    if len(loaded) != len(manifest["models"]) + 1:
        raise UserError("every 'models' entry must be an object", root / MANIFEST)
    for rel, entry in loaded:
        if not isinstance(rel, str) or rel not in files:
            raise UserError(f"{rel!r} is not hashed in the manifest's 'files'; refusing to play the bundle", root / MANIFEST)
        if entry is not None and (entry.get("sha256"), entry.get("bytes")) != (files[rel].get("sha256"), files[rel].get("bytes")):
            raise UserError(f"model entry for {rel} disagrees with its SHA-256 in 'files'; refusing to play it", root / MANIFEST)
    return manifest


def iter_frames(source: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Yield RGB uint8 (H, W, 3) frames of a video file or a folder of images (sorted by name)."""
    import cv2

    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError("frames folder holds no image files", src)
        for f in files:
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                raise UserError("unreadable frame", f)
            yield np.ascontiguousarray(bgr[..., ::-1])
        return
    require_file(src, "LR video")
    import av

    try:
        container = av.open(str(src))
    except (av.error.FFmpegError, OSError) as err:
        raise UserError(f"cannot open video: {err}", src) from err
    try:
        if not container.streams.video:
            raise UserError("file has no video stream", src)
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")
    finally:
        container.close()


class VideoWriter:
    """H.264 MP4 writer (yuv420p, CRF 18) over PyAV; ``write`` takes RGB uint8 (H, W, 3).

    Odd sizes are padded by one repeated row/column (yuv420p needs even sizes); ``--save-frames`` PNGs
    keep the exact size.
    """

    def __init__(self, path: Path, fps: float = 25.0) -> None:
        import av

        self._av = av
        self.container = av.open(str(path), mode="w", format="mp4")
        self.stream: Any = None
        self.fps = fps

    def write(self, rgb: np.ndarray) -> None:
        if self.stream is None:
            from fractions import Fraction

            self.stream = self.container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1000))
            self.stream.width, self.stream.height = rgb.shape[1] + rgb.shape[1] % 2, rgb.shape[0] + rgb.shape[0] % 2
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": "18", "preset": "veryfast"}
        if rgb.shape[0] % 2 or rgb.shape[1] % 2:  # yuv420p needs even sizes: repeat the last row/column
            rgb = np.pad(rgb, ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0)), mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()


def temporal_segment(index: int, frames: int, segments: int) -> int:
    """Segment of frame ``index`` when ``frames`` are split like ``np.array_split(range(frames), segments)``."""
    if index >= frames:
        return segments - 1
    base, extra = divmod(frames, segments)  # the first `extra` segments hold base + 1 frames
    cut = extra * (base + 1)
    return index // (base + 1) if index < cut else extra + (index - cut) // max(1, base)


@dataclass
class SRPlayer:
    """Stateful bundle runtime: sessions for one method and precision, plus the label map.

    Args:
        bundle: the bundle folder (already verified, or pass ``verify=True``).
        method: which method's models to play (default: the manifest's ``method``).
        precision: ``"fp32"`` or ``"int8"``.
        threads: onnxruntime intra-op threads.
    """

    bundle: Path
    method: str | None = None
    precision: str = "fp32"
    threads: int = 2
    verify: bool = True
    manifest: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.bundle = Path(self.bundle)
        self.manifest = verify_bundle(self.bundle) if self.verify else read_manifest(self.bundle)
        self.method = self.method or self.manifest.get("method", "stdo")
        entries = [m for m in self.manifest["models"] if m["method"] == self.method and m["precision"] == self.precision]
        if not entries:
            have = sorted({(m["method"], m["precision"]) for m in self.manifest["models"]})
            raise UserError(
                f"bundle has no {self.precision} models for method '{self.method}' (has: {have})",
                self.bundle / MANIFEST,
            )
        entries.sort(key=lambda m: m["chunk"])
        self.scale = int(self.manifest["scale"])
        self.tile = (int(self.manifest["tile"][0]), int(self.manifest["tile"][1]))
        self.overlap = int(self.manifest["overlap"])
        if self.overlap < 0 or min(self.tile) <= 2 * self.overlap:
            raise UserError(
                f"tile {self.tile[0]}x{self.tile[1]} must be larger than 2 * overlap ({self.overlap} >= 0)",
                self.bundle / MANIFEST,
            )
        lr_size = self.manifest.get("lr_size")
        self.lr_size: tuple[int, int] | None = None if lr_size is None else (int(lr_size[0]), int(lr_size[1]))
        self.input_name = self.manifest.get("input_name", "lr")
        self.sessions = [make_session(self.bundle / m["onnx"], self.threads) for m in entries]
        self.runners: list[TileRunner] = [self._runner(s) for s in self.sessions]
        self.labels: np.ndarray | None = None
        if self.method in ("stdo", "temporal") and len(self.sessions) > 1:
            from videosr.metadata import read_label_map

            self.labels = read_label_map(self.bundle / self.manifest["label_map"]).labels

    def _runner(self, session: Any) -> TileRunner:
        name = self.input_name

        def run(tile: np.ndarray) -> np.ndarray:
            return session.run(None, {name: tile})[0]

        return run

    def check_size(self, hw: tuple[int, int], source: str | os.PathLike[str]) -> None:
        """Refuse LR frames of another size than the run's (the label map and tile plan were made for it).

        Bundles written before ``lr_size`` was recorded in the manifest are not checked.
        """
        if self.lr_size is not None and tuple(hw) != self.lr_size:
            raise UserError(
                f"LR frames are {hw[1]}x{hw[0]} but the bundle was made for {self.lr_size[1]}x{self.lr_size[0]} "
                "LR frames (its label map and tiles fit that size)",
                source,
            )

    def upscale(self, rgb: np.ndarray, index: int) -> np.ndarray:
        """Super-resolve frame ``index``: RGB uint8 (h, w, 3) -> RGB uint8 (s*h, s*w, 3)."""
        frame = rgb.transpose(2, 0, 1).astype(np.float32) * (1.0 / 255.0)
        runners: Sequence[TileRunner] = self.runners
        pixel_labels = None
        if self.labels is not None and self.method == "stdo":
            if index >= len(self.labels):
                raise UserError(
                    f"the LR input has more frames than the bundle's label map ({len(self.labels)})",
                    self.bundle / self.manifest["label_map"],
                )
            pixel_labels = patch_label_image(self.labels[index], rgb.shape[:2])
        elif self.labels is not None and self.method == "temporal":
            runners = [runners[temporal_segment(index, len(self.labels), len(runners))]]
        out = run_tiled(frame, runners, self.tile, self.overlap, self.scale, pixel_labels)
        return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)


def play_bundle(
    bundle: str | os.PathLike[str],
    lr: str | os.PathLike[str],
    out: str | os.PathLike[str],
    save_frames: str | os.PathLike[str] | None = None,
    method: str | None = None,
    precision: str = "fp32",
    threads: int = 2,
    fps: float = 25.0,
    max_frames: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Play ``lr`` (video or frame folder) through the bundle; write HR MP4 ``out`` (+ PNG frames).

    Returns the report (also written to ``out`` with suffix ``.json``): frames, wall seconds, ``fps``
    (end to end, including decode and encode) and ``model_fps`` (super-resolution only).
    """
    if not fps > 0 or threads < 1:
        raise UserError(f"--fps must be positive and --threads at least 1 (got {fps:g} and {threads})")
    out_path = Path(out)
    if out_path.suffix.lower() == ".json":  # the report beside it would be the video itself
        raise UserError("--out is the HR video (e.g. .mp4); its JSON report is written beside it with suffix .json", out_path)
    out_path = check_can_write(out_path, overwrite)
    report_path = check_can_write(out_path.with_suffix(".json"), overwrite)
    if save_frames is not None:
        check_can_write(save_frames, overwrite)
    player = SRPlayer(Path(bundle), method=method, precision=precision, threads=threads)
    start = time.perf_counter()
    model_seconds = 0.0
    count = 0
    shape = None
    with ExitStack() as stack:  # unwinds LIFO: the writer closes before the outputs are published
        tmp_video = stack.enter_context(atomic_path(out_path, overwrite))
        frames_dir = stack.enter_context(atomic_dir(save_frames, overwrite)) if save_frames is not None else None
        writer = VideoWriter(tmp_video, fps)
        stack.callback(writer.close)
        for index, rgb in enumerate(track(iter_frames(lr), "playing bundle")):
            if max_frames is not None and index >= max_frames:
                break
            if shape is None:
                player.check_size((int(rgb.shape[0]), int(rgb.shape[1])), lr)
            if shape is not None and list(rgb.shape[:2]) != shape:
                raise UserError(
                    f"frame {index} is {rgb.shape[1]}x{rgb.shape[0]} but the first frame is {shape[1]}x{shape[0]}; "
                    "all LR frames must have one size", lr)
            t0 = time.perf_counter()
            hr = player.upscale(rgb, index)
            model_seconds += time.perf_counter() - t0
            writer.write(hr)
            if frames_dir is not None:
                _write_png(frames_dir / f"{index:06d}.png", hr)
            shape = [int(rgb.shape[0]), int(rgb.shape[1])]
            count += 1
        if count == 0:
            raise UserError("no frames to play", lr)
    seconds = time.perf_counter() - start
    report = {
        "bundle": str(bundle),
        "lr": str(lr),
        "out": str(out_path),
        "frames_dir": None if save_frames is None else str(save_frames),
        "method": player.method,
        "precision": precision,
        "threads": threads,
        "frames": count,
        "lr_size": shape,
        "hr_size": None if shape is None else [player.scale * shape[0], player.scale * shape[1]],
        "seconds": seconds,
        "fps": count / seconds if seconds > 0 else None,
        "model_fps": count / model_seconds if model_seconds > 0 else None,
    }
    write_json_atomic(report_path, report, overwrite=True)
    return report


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise UserError("cannot write frame", path)


def cmd_play(args: argparse.Namespace) -> int:
    """Handler of ``edgevision play``: plays the bundle and prints the frame rate."""
    report = play_bundle(
        args.bundle,
        args.lr,
        args.out,
        save_frames=args.save_frames,
        method=args.method,
        precision=args.precision,
        threads=args.threads,
        fps=args.fps,
        max_frames=args.max_frames,
        overwrite=args.overwrite,
    )
    print(
        f"played {report['frames']} frames {report['lr_size']} -> {report['hr_size']} "
        f"({report['method']}, {report['precision']}): {report['fps']:.2f} fps end to end, "
        f"{report['model_fps']:.2f} fps super-resolution; wrote {report['out']}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m export.player``: the same as ``edgevision play``."""
    from export.cli import add_play_arguments

    parser = argparse.ArgumentParser(prog="python -m export.player", description=__doc__.split("\n\n")[0])
    add_play_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show the traceback on errors")
    args = parser.parse_args(argv)
    return run_with_error_convention(lambda: cmd_play(args), debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
