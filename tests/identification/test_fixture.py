import json
import pickle
from pathlib import Path

import numpy as np

from identification.fixture import AFTER_PICK_VIEWS, generate_armbench, make_catalog, render_product


def test_catalog_is_deterministic_and_distinct() -> None:
    a, b = make_catalog(30, seed=3), make_catalog(30, seed=3)
    assert a == b
    assert [s.product_id for s in a] == [f"P{i:04d}" for i in range(30)]
    looks = {(s.shape, s.texture, s.base_color, s.label_text) for s in a}
    assert len(looks) == 30
    assert make_catalog(30, seed=4) != a


def test_render_product_views_differ_and_mask_matches() -> None:
    spec = make_catalog(1, seed=0)[0]
    rng = np.random.default_rng(0)
    (im1, m1), (im2, m2) = render_product(spec, rng, 64), render_product(spec, rng, 64)
    for im, m in ((im1, m1), (im2, m2)):
        assert im.shape == (64, 64, 3) and im.dtype == np.uint8
        assert m.shape == (64, 64) and m.dtype == bool
        assert 0.1 < m.mean() < 0.95
        assert im[m].mean() > 5
    assert not np.array_equal(im1, im2)


def test_generate_armbench_layout(tmp_path: Path) -> None:
    summary = generate_armbench(tmp_path, n_products=16, n_picks=20, seed=1, image_size=48)
    split = pickle.loads((tmp_path / "train-test-split.pickle").read_bytes())
    assert set(split) == {"trainset", "testset", "trainset-objects", "testset-objects"}
    assert all(isinstance(x, str) for v in split.values() for x in v)
    assert not set(split["trainset-objects"]) & set(split["testset-objects"])
    assert len(split["trainset"]) + len(split["testset"]) == 20 == summary["picks"]
    for name in ("trainset", "testset"):
        objects = set(split[f"{name}-objects"])
        for pick in split[name]:
            d = tmp_path / "Picks" / pick
            assert (d / "PickRGB.jpg").is_file()
            container = json.loads((d / "container.json").read_text())
            gt = json.loads((d / "annotation.json").read_text())["GT_ID"]
            assert isinstance(container, dict) and gt in container and set(container) <= objects
    for pdir in (tmp_path / "Reference_Images").iterdir():
        names = sorted(p.name for p in pdir.iterdir())
        assert names == [f"{k}.jpg" for k in range(1, len(names) + 1)] and len(names) <= 6
    views = sum((tmp_path / "Picks" / p / v).exists() for p in split["trainset"] + split["testset"] for v in AFTER_PICK_VIEWS)
    assert views == 3 * 20 - summary["missing_after_pick_views"]
