from __future__ import annotations

import numpy as np
import pytest
import torch

from export.tiling import patch_label_image, receptive_radius, run_tiled, tile_spans


@pytest.mark.parametrize("tile,overlap", [(8, 2), (9, 3), (16, 0), (5, 2)])
def test_spans_partition_and_keep_context(tile: int, overlap: int) -> None:
    for length in range(1, 60):
        spans = tile_spans(length, tile, overlap)
        owned = np.zeros(length, int)
        for s in spans:
            owned[s.lo : s.hi] += 1
            assert 0 <= s.start and s.start + min(tile, length) <= max(length, tile)
            if length >= tile:
                assert s.start + tile <= length
            # owned pixels keep `overlap` context inside the window unless the window edge is the frame edge
            assert s.lo - s.start >= overlap or s.start == 0
            assert s.start + tile - s.hi >= overlap or s.hi == length or s.start + tile >= length
        assert owned.tolist() == [1] * length


def test_tile_must_exceed_twice_overlap() -> None:
    with pytest.raises(ValueError):
        tile_spans(100, 8, 4)


def test_receptive_radius_and_patch_labels() -> None:
    assert receptive_radius([(5, 5), (3, 3), (3, 3)]) == 4
    grid = np.array([[0, 1], [2, 3]], np.uint8)
    img = patch_label_image(grid, (4, 6))
    assert img.tolist() == [[0, 0, 0, 1, 1, 1]] * 2 + [[2, 2, 2, 3, 3, 3]] * 2


def _box_model(radius_layers: int, scale: int, weight: float = 1.0):
    """Deterministic numpy 'SR model': `radius_layers` zero-padded 3x3 box sums, then nearest x`scale`.

    Integer-valued inputs keep every sum exact in float32, so tiled == whole must hold bit for bit.
    """

    def run(x: np.ndarray) -> np.ndarray:
        y = x[0].astype(np.float32)
        for _ in range(radius_layers):
            p = np.pad(y, ((0, 0), (1, 1), (1, 1)))
            y = sum(p[:, i : i + y.shape[1], j : j + y.shape[2]] for i in range(3) for j in range(3)) * weight
        return np.repeat(np.repeat(y, scale, axis=1), scale, axis=2)[None]

    return run


@pytest.mark.parametrize("hw", [(23, 41), (16, 16), (30, 17)])
def test_tiled_equals_whole_frame_exactly(hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 8, size=(3, *hw)).astype(np.float32)
    model = _box_model(radius_layers=3, scale=2)
    whole = model(frame[None])[0]
    tiled = run_tiled(frame, [model], (16, 16), overlap=3, scale=2)
    np.testing.assert_array_equal(tiled, whole)
    too_small = run_tiled(frame, [model], (16, 16), overlap=2, scale=2)  # receptive field exceeds overlap
    if min(hw) > 16:
        assert not np.array_equal(too_small, whole)


def test_per_pixel_model_selection_matches_stitching() -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 8, size=(3, 24, 36)).astype(np.float32)
    models = [_box_model(2, 2, 1.0), _box_model(2, 2, 0.5)]
    grid = np.array([[0, 1, 1], [1, 0, 0]], np.uint8)
    labels = patch_label_image(grid, (24, 36))
    tiled = run_tiled(frame, models, (12, 14), overlap=2, scale=2, pixel_labels=labels)
    outs = [m(frame[None])[0] for m in models]
    big = np.repeat(np.repeat(labels, 2, 0), 2, 1)
    np.testing.assert_array_equal(tiled, np.where(big[None] == 0, outs[0], outs[1]))


def test_onnx_espcn_tiles_match_whole_frame(tmp_path) -> None:
    from export.onnx import export_onnx
    from export.runtime import make_session
    from videosr.models import build_sr

    torch.manual_seed(0)
    model = build_sr("espcn", 2, features=8, mid_features=4).eval()
    frame = torch.rand(1, 3, 30, 44)
    whole_path = export_onnx(model, (frame,), tmp_path / "whole.onnx", "sr", ["lr"], ["hr"])
    tile_path = export_onnx(model, (frame[..., :16, :16],), tmp_path / "tile.onnx", "sr", ["lr"], ["hr"])
    whole = make_session(whole_path).run(None, {"lr": frame.numpy()})[0][0]
    session = make_session(tile_path)
    tiled = run_tiled(frame[0].numpy(), [lambda t: session.run(None, {"lr": t})[0]], (16, 16), overlap=4, scale=2)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=2e-6)


def test_choose_tile_fits_frames_with_little_waste() -> None:
    from export.tiling import choose_tile

    assert choose_tile((40, 56), overlap=4) == (40, 56)  # one exact tile per axis
    th, tw = choose_tile((180, 320), overlap=4)
    assert th <= 128 and tw <= 128 and th % 8 == 0 and tw % 8 == 0
    covered = len(tile_spans(180, th, 4)) * len(tile_spans(320, tw, 4)) * th * tw
    assert covered < 6 * 128 * 128  # less padding work than fixed 128x128 tiles
    for hw in [(720, 1280), (130, 129), (200, 90)]:
        t = choose_tile(hw, overlap=6)
        assert all(side <= 128 and side > 12 for side in t)
