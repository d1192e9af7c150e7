"""``edgevision demo upscale VIDEO``: STDO run -> mobile SR bundle -> bundle playback -> comparison.

Steps (each one the owning area's public API):

1. ``videosr.pipeline.run_stdo``: decode the video, build the LR input, train the general model and the
   per-chunk STDO models, write the run folder (``OUT/run``);
2. ``export.bundle.build_sr_bundle``: export the STDO chunk models to fixed-tile ONNX with the label
   map and a manifest (``OUT/bundle``);
3. ``export.player.play_bundle``: reconstruct the HR video from the LR frames with onnxruntime only, as
   the phone app would (``OUT/playback/stdo.mp4`` + PNG frames);
4. a side-by-side comparison ``bicubic | STDO (bundle playback) | original`` as ``OUT/comparison.mp4``
   and ``OUT/comparison.png`` (the middle frame), and the PSNR table in ``OUT/report.json``.

Bicubic is MATLAB-style (``videosr.io.imresize``), the same baseline the run reports. PSNR is over
whole RGB frames against the original (HR) frames, averaged over frames.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision.common.atomic import atomic_dir, write_json_atomic
from vision.common.errors import UserError
from vision.common.progress import get_logger, track
from vision.common.runinfo import machine_info

LOG = get_logger(__name__)
PANELS = ("bicubic", "STDO (bundle)", "original")


def _read_png_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise UserError("cannot read frame", path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def side_by_side(panels: list[np.ndarray], labels: tuple[str, ...] = PANELS, gap: int = 4) -> np.ndarray:
    """Panels ``(H, W, 3) uint8`` next to each other with a title band; output has even height and width."""
    h, w = panels[0].shape[:2]
    band = max(14, h // 12)
    width = len(panels) * w + (len(panels) - 1) * gap
    out = np.full((h + band + (h + band) % 2, width + width % 2, 3), 255, np.uint8)
    scale = band / 30.0
    for i, label in enumerate(labels):
        cv2.putText(out, label, (i * (w + gap) + 3, band - max(3, band // 5)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    for i, img in enumerate(panels):  # after the labels: descenders never cover the frames
        out[band : band + h, i * (w + gap) : i * (w + gap) + w] = img
    return out


def _retarget_paths(json_path: Path, tmp: Path, final: Path) -> None:
    """Rewrite string values under the temporary build folder ``tmp`` to the published ``final`` folder.

    The bundle manifest (``source_run``) and the playback report (``bundle``, ``lr``, ``out``) are written
    inside the atomic build folder; without this they would name a path that no longer exists.
    """
    import json

    prefix = str(tmp)

    def fix(value: Any) -> Any:
        if isinstance(value, str) and (value == prefix or value.startswith(prefix + os.sep)):
            return str(final) + value[len(prefix):]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    write_json_atomic(json_path, fix(json.loads(json_path.read_text(encoding="utf-8"))))


def run_upscale_demo(
    cfg: Any,
    out: str | os.PathLike[str],
    tile: tuple[int, int] | None = None,
    int8: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the four steps of the module docstring for ``cfg`` (a ``videosr.config.RunConfig``).

    Args:
        tile: bundle LR tile ``(h, w)``; None = fitted to the frames by ``export.tiling.choose_tile``.
        int8: also export INT8 models into the bundle (playback stays FP32).
    Returns the report (also ``OUT/report.json``).
    """
    from export.bundle import SRBundleOptions, build_sr_bundle
    from export.player import VideoWriter, play_bundle
    from videosr.io import imresize, load_pair
    from videosr.metrics import psnr, psnr_y
    from videosr.pipeline import run_stdo
    from videosr.run_folder import load_run

    if "stdo" not in cfg.methods:
        cfg.methods = [*cfg.methods, "stdo"]
    times: dict[str, float] = {}
    with atomic_dir(out, overwrite) as tmp:
        t0 = time.perf_counter()
        run_report = run_stdo(cfg, tmp / "run")
        times["stdo_run_s"] = time.perf_counter() - t0
        run = load_run(tmp / "run")
        lr_paths = run.lr_frames()
        lr_h, lr_w = run_report["lr_size"]
        t1 = time.perf_counter()
        manifest = build_sr_bundle(tmp / "run", tmp / "bundle", SRBundleOptions(methods=("stdo",), tile=tile, int8=int8))
        times["bundle_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        (tmp / "playback").mkdir()
        play = play_bundle(tmp / "bundle", run.lr_dir, tmp / "playback" / "stdo.mp4",
                           save_frames=tmp / "playback" / "frames")
        times["playback_s"] = time.perf_counter() - t2

        t3 = time.perf_counter()
        hr_paths = run.hr_frames()
        if hr_paths:
            originals: list[np.ndarray] | None = None
        else:  # the run did not keep HR frames: decode them again
            originals = load_pair(cfg.video, cfg.scale, cfg.start, cfg.frames).hr
        sr_paths = sorted((tmp / "playback" / "frames").glob("*.png"))
        if not (len(sr_paths) == len(lr_paths) and (originals is not None or len(hr_paths) == len(lr_paths))):
            raise UserError(f"frame counts differ: {len(lr_paths)} LR, {len(sr_paths)} played back", tmp / "run")
        rows: dict[str, dict[str, list[float]]] = {"bicubic": {"rgb": [], "y": []}, "stdo_bundle": {"rgb": [], "y": []}}
        writer = VideoWriter(tmp / "comparison.mp4", fps=25.0)
        still_index = len(lr_paths) // 2
        try:
            for i in track(range(len(lr_paths)), "comparison video"):
                hr = originals[i] if originals is not None else _read_png_rgb(hr_paths[i])
                bic = imresize(_read_png_rgb(lr_paths[i]), hr.shape[0], hr.shape[1])
                sr = _read_png_rgb(sr_paths[i])
                for name, img in (("bicubic", bic), ("stdo_bundle", sr)):
                    rows[name]["rgb"].append(psnr(img, hr))
                    rows[name]["y"].append(psnr_y(img, hr))
                frame = side_by_side([bic, sr, hr])
                writer.write(frame)
                if i == still_index:
                    cv2.imwrite(str(tmp / "comparison.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            writer.close()
        times["comparison_s"] = time.perf_counter() - t3

        table: list[dict[str, Any]] = [{"method": "bicubic", "source": "this demo (MATLAB bicubic)",
                  "psnr_rgb": float(np.mean(rows["bicubic"]["rgb"])), "psnr_y": float(np.mean(rows["bicubic"]["y"]))},
                 {"method": "stdo (bundle playback, onnxruntime fp32)", "source": "this demo",
                  "psnr_rgb": float(np.mean(rows["stdo_bundle"]["rgb"])),
                  "psnr_y": float(np.mean(rows["stdo_bundle"]["y"]))}]
        for method, m in run_report["methods"].items():
            label = method if method == "bicubic" else f"{method} (pytorch)"
            table.append({"method": label, "source": "videosr run report",
                          "psnr_rgb": m["psnr_rgb"], "psnr_y": m["psnr_y"]})
        report = {
            "video": str(cfg.video),
            "frames": len(lr_paths),
            "scale": cfg.scale,
            "lr_size": [lr_h, lr_w],
            "hr_size": run_report["hr_size"],
            "chunks": cfg.chunks,
            "bundle_tile": manifest.get("tile"),
            "bundle_models": len(manifest.get("models", [])),
            "psnr_table": table,
            "psnr_per_frame": {k: v["rgb"] for k, v in rows.items()},
            "stdo_gain_over_bicubic_db": table[1]["psnr_rgb"] - table[0]["psnr_rgb"],
            "playback": {"fps": play["fps"], "model_fps": play["model_fps"]},
            "seconds": times,
            "outputs": {"run": "run", "bundle": "bundle", "playback": "playback/stdo.mp4",
                        "comparison_video": "comparison.mp4", "comparison_png": "comparison.png"},
            "machine": machine_info(),
        }
        write_json_atomic(tmp / "report.json", report)
        for written in (tmp / "bundle" / "manifest.json", tmp / "playback" / "stdo.json"):
            _retarget_paths(written, tmp, Path(out))
    LOG.info("upscale demo written to %s", out)
    return report
