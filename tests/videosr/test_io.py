"""Video input: decoding, corrupt frames, bad files, cropping, MATLAB-like bicubic, LR options."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from videosr.io import imresize, imresize_down, load_pair, read_frames, reencode_h264, resize_weights
from videosr.synthetic import encode_video, render_frames
from vision.common.errors import UserError


def test_bicubic_matches_antialiased_reference() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 72, 3), dtype=np.uint8)
    for s in (2, 3, 4):
        ours = imresize_down(img, s).astype(int)
        # torch's antialiased bicubic uses the same a=-0.5 kernel; borders differ (it truncates, we mirror)
        t = torch.from_numpy(img).permute(2, 0, 1)[None].double()
        ref = torch.nn.functional.interpolate(t, scale_factor=1 / s, mode="bicubic", antialias=True)
        ref = ref[0].permute(1, 2, 0).round().clamp(0, 255).numpy().astype(int)
        np.testing.assert_array_equal(ours[3:-3, 3:-3], ref[3:-3, 3:-3])
    flat = np.full((12, 12, 3), 77, np.uint8)
    np.testing.assert_array_equal(imresize_down(flat, 4), np.full((3, 3, 3), 77))
    np.testing.assert_array_equal(imresize(flat, 24, 36), np.full((24, 36, 3), 77))
    np.testing.assert_allclose(resize_weights(20, 5).sum(axis=1), 1.0)
    with pytest.raises(ValueError):
        imresize_down(img[:47], 2)


def test_read_video_window_and_folder_with_corrupt(tiny_clip: Path, tmp_path: Path) -> None:
    all_frames = read_frames(tiny_clip)
    assert len(all_frames.frames) == 6 and all_frames.corrupt == 0 and all_frames.frames[0].shape == (64, 96, 3)
    window = read_frames(tiny_clip, start=2, frames=3)
    assert len(window.frames) == 3
    np.testing.assert_array_equal(window.frames[0], all_frames.frames[2])
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(all_frames.frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), f[..., ::-1])
    (folder / "0002.png").write_bytes(b"not a png at all")
    dec = read_frames(folder)
    assert len(dec.frames) == 5 and dec.corrupt == 1
    np.testing.assert_array_equal(dec.frames[2], all_frames.frames[3])


def _mjpeg_with_corrupt_frames(tmp_path: Path, corrupt: tuple[int, ...]) -> Path:
    """8 frames of MJPEG in AVI with the JPEG data of frames ``corrupt`` scrambled."""
    import av

    frames = render_frames(8, 48, 64, seed=1)
    path = tmp_path / "m.avi"
    container = av.open(str(path), "w")
    stream = container.add_stream("mjpeg", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
    for f in frames:
        for p in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
            container.mux(p)
    for p in stream.encode():
        container.mux(p)
    container.close()
    data = bytearray(path.read_bytes())
    starts = [m.start() for m in re.finditer(b"\xff\xd8\xff", bytes(data))]
    rng = np.random.default_rng(0)
    for k in corrupt:  # scramble JPEG frames
        n = starts[k + 1] - starts[k] - 64
        data[starts[k] : starts[k] + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def test_video_with_corrupt_frames_is_counted(tmp_path: Path) -> None:
    path = _mjpeg_with_corrupt_frames(tmp_path, (2, 5))
    dec = read_frames(path)
    assert dec.corrupt == 2 and len(dec.frames) == 6 and dec.indices == [0, 1, 3, 4, 6, 7]
    dec = read_frames(path, start=3, frames=3)
    assert dec.corrupt == 1 and dec.indices == [3, 4]
    # a window ending on a corrupt frame: the corrupt frame after it is outside the window, not counted
    (tmp_path / "two").mkdir()
    path = _mjpeg_with_corrupt_frames(tmp_path / "two", (2, 3))
    dec = read_frames(path, start=0, frames=3)
    assert dec.corrupt == 1 and dec.indices == [0, 1]


def test_bad_inputs(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(UserError, match="junk.mp4"):
        read_frames(junk)
    with pytest.raises(UserError, match="does not exist"):
        read_frames(tmp_path / "missing.mp4")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no image files"):
        read_frames(empty)
    (empty / "a.png").write_bytes(b"broken")
    with pytest.raises(UserError, match="no decodable frames"):
        read_frames(empty)


def test_load_pair_crop_lr_video_and_crf(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frames = render_frames(3, 50, 66, seed=2)
    folder = tmp_path / "hr"
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i}.png"), f[..., ::-1])
    with caplog.at_level(logging.WARNING):
        pair = load_pair(folder, 4)
    assert "cropping frames from 50x66 to 48x64" in caplog.text
    assert pair.hr[0].shape == (48, 64, 3) and pair.lr[0].shape == (12, 16, 3)
    np.testing.assert_array_equal(pair.hr[1], frames[1][:48, :64])
    np.testing.assert_array_equal(pair.lr[1], imresize_down(frames[1][:48, :64], 4))
    lr_video = encode_video(tmp_path / "lr.mkv", np.stack(pair.lr), crf=0)
    from_video = load_pair(folder, 4, lr_video=lr_video)
    assert from_video.lr[0].shape == (12, 16, 3)
    np.testing.assert_array_equal(from_video.lr[2], read_frames(lr_video).frames[2])
    wrong = encode_video(tmp_path / "wrong.mkv", np.stack([f[:, :8] for f in pair.lr]), crf=0)
    with pytest.raises(UserError, match="LR frames are"):
        load_pair(folder, 4, lr_video=wrong)
    crf = load_pair(folder, 4, lr_crf=40)
    assert crf.lr[0].shape == (12, 16, 3) and not np.array_equal(crf.lr[0], pair.lr[0])
    assert len(reencode_h264(pair.lr, 23)) == 3
    with pytest.raises(UserError, match="smaller than one"):
        load_pair(folder, 4, multiple=(20, 1))


def test_lr_video_with_corrupt_frames_stays_aligned(tmp_path: Path) -> None:
    """A frame corrupt in only one of HR / LR used to shift every later pair (or end in an error)."""
    frames = render_frames(4, 32, 48, seed=6)
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    hr_dir.mkdir()
    lr_dir.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(hr_dir / f"{i}.png"), f[..., ::-1])
        cv2.imwrite(str(lr_dir / f"{i}.png"), imresize_down(f, 2)[..., ::-1])
    (hr_dir / "2.png").write_bytes(b"broken")
    (lr_dir / "1.png").write_bytes(b"broken")
    pair = load_pair(hr_dir, 2, lr_video=lr_dir)
    assert len(pair.hr) == len(pair.lr) == 2 and pair.corrupt == 2
    for got_hr, got_lr, i in zip(pair.hr, pair.lr, (0, 3), strict=True):
        np.testing.assert_array_equal(got_hr, frames[i])
        np.testing.assert_array_equal(got_lr, imresize_down(frames[i], 2))
    (lr_dir / "3.png").unlink()
    with pytest.raises(UserError, match="LR video gives 3 frames but the HR video 4"):
        load_pair(hr_dir, 2, lr_video=lr_dir)


def test_folder_frames_of_another_size_are_skipped_and_counted(tmp_path: Path) -> None:
    frames = render_frames(3, 32, 48, seed=6)
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i}.png"), (f if i != 1 else f[:16])[..., ::-1])
    dec = read_frames(tmp_path)
    assert len(dec.frames) == 2 and dec.corrupt == 1 and dec.indices == [0, 2]
