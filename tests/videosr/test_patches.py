"""Grid parsing and validation."""

from __future__ import annotations

import pytest

from videosr.patches import auto_grid, parse_grid, patch_boxes, resolve_grid
from vision.common.errors import UserError


def test_parse_and_resolve() -> None:
    assert parse_grid("5x10") == (5, 10) and parse_grid(" 2X3 ") == (2, 3)
    for bad in ("5", "0x2", "axb", "3x-1"):
        with pytest.raises(UserError):
            parse_grid(bad)
    assert resolve_grid((180, 320), (5, 10)) == (5, 10)
    assert resolve_grid((180, 320), patch=20) == (9, 16)
    with pytest.raises(UserError, match="does not divide"):
        resolve_grid((180, 320), (7, 10))
    with pytest.raises(UserError, match="smaller than one"):
        resolve_grid((8, 8), patch=16)
    with pytest.raises(UserError, match="smaller than one"):
        resolve_grid((4, 4), (8, 8))


def test_boxes_cover_frame_once() -> None:
    boxes = list(patch_boxes(6, 9, (2, 3)))
    assert len(boxes) == 6 and boxes[0] == ((0, 0), (0, 3, 0, 3)) and boxes[-1] == ((1, 2), (3, 6, 6, 9))
    covered = sum((y1 - y0) * (x1 - x0) for _, (y0, y1, x0, x1) in boxes)
    assert covered == 54


@pytest.mark.parametrize(
    ("lr_size", "expected"),
    [((270, 480), (6, 10)), ((45, 80), (5, 8)), ((36, 64), (4, 8)), ((7, 13), (1, 1)), ((37, 64), (1, 8))],
)
def test_auto_grid_divides_the_frame_with_patches_near_the_target(lr_size, expected) -> None:
    grid = resolve_grid(lr_size)
    assert grid == expected
    assert lr_size[0] % grid[0] == 0 and lr_size[1] % grid[1] == 0


def test_auto_grid_brute_force_picks_the_closest_patch_size() -> None:
    for h in range(8, 200, 7):
        rows = auto_grid((h, 400))[0]
        target = round(max(8.0, min(48.0, h / 4)))
        best = min(abs(h / d - target) for d in range(1, h + 1) if h % d == 0 and h // d >= 8)
        assert h % rows == 0 and abs(h / rows - target) == best
