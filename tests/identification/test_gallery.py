import numpy as np
import pytest

from identification.embed import ImageEmbedder
from identification.fixture import make_catalog, render_product
from identification.gallery import Gallery
from identification.identifier import Identifier
from vision.common.errors import UserError


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _brute(gallery_data, q, k, mode):
    out = []
    q = _unit(q)
    for pid, refs in gallery_data.items():
        r = _unit(refs)
        if mode == "centroid":
            s = float(_unit(q.mean(0)) @ _unit(r.mean(0)))
        else:
            s = float((_unit(q) @ r.T).max())
        out.append((pid, s))
    return sorted(out, key=lambda t: (-t[1], t[0]))[:k]


@pytest.mark.parametrize("mode", ["centroid", "best_view"])
@pytest.mark.parametrize("threshold", [10**9, 1])  # exact flat index / approximate IVF index
def test_search_matches_brute_force(mode, threshold) -> None:
    rng = np.random.default_rng(0)
    data = {f"P{i:03d}": rng.normal(size=(int(rng.integers(1, 6)), 16)).astype(np.float32) for i in range(40)}
    g = Gallery(approximate_threshold=threshold)
    for pid, e in data.items():
        g.add(pid, e)
    for _ in range(5):
        q = rng.normal(size=(3, 16)).astype(np.float32)
        got = g.search(q, k=5, mode=mode)
        want = _brute(data, q, 5, mode)
        if threshold == 1:  # approximate: most of the true top-5 found, scores exact for what is found
            assert len({p for p, _ in got} & {p for p, _ in want}) >= 3
        else:
            assert [p for p, _ in got] == [p for p, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)
    cands = ["P003", "P010", "nope", "P020"]
    got = g.search(q, k=2, mode=mode, candidates=cands)
    want = _brute({p: data[p] for p in ("P003", "P010", "P020")}, q, 2, mode)
    assert [p for p, _ in got] == [p for p, _ in want]


def test_add_remove_ties_and_storage(tmp_path) -> None:
    g = Gallery(metadata={"backbone": "x"})
    g.add("b", np.array([[1.0, 0.0]]))
    g.add("a", np.array([[2.0, 0.0]]))  # same direction as b: a tie, broken by id
    g.add("c", np.array([[0.0, 1.0]]))
    assert g.product_ids == ["b", "a", "c"]
    assert g.search(np.array([1.0, 0.1]), k=3, mode="centroid")[:2] == [("a", pytest.approx(0.995037, abs=1e-5)),
                                                                       ("b", pytest.approx(0.995037, abs=1e-5))]
    g.add("c", np.array([[1.0, 0.0]]))  # a second view appended to c
    assert len(g.embeddings("c")) == 2
    assert g.search(np.array([[1.0, 0.0]]), k=1, mode="best_view")[0][0] == "a"
    g.remove("a")
    assert "a" not in g and g.product_ids == ["b", "c"]
    assert g.search(np.array([[1.0, 0.0]]), k=5, mode="best_view") == [("b", pytest.approx(1.0)), ("c", pytest.approx(1.0))]
    with pytest.raises(KeyError):
        g.remove("a")
    with pytest.raises(ValueError):
        g.add("d", np.zeros((1, 3)))
    g.save(tmp_path / "gal")
    with pytest.raises(UserError, match="overwrite"):
        g.save(tmp_path / "gal")
    h = Gallery.load(tmp_path / "gal")
    assert h.product_ids == g.product_ids and h.metadata == {"backbone": "x"}
    np.testing.assert_array_equal(h.embeddings("c"), g.embeddings("c"))
    assert not list(tmp_path.glob("gal/*.pkl"))
    (tmp_path / "gal" / "gallery.json").write_text("{")
    with pytest.raises(UserError, match="JSON"):
        Gallery.load(tmp_path / "gal")
    assert Gallery().search(np.ones((1, 2)), k=3) == []


def test_identifier_finds_products_from_views(embedder_pool) -> None:
    cat = make_catalog(6, seed=2)
    rng = np.random.default_rng(1)
    ident = Identifier(ImageEmbedder(embedder_pool, batch_size=4), Gallery(), mode="best_view")
    for spec in cat:
        ident.add_product(spec.product_id, [render_product(spec, rng, 48)[0] for _ in range(3)])
    assert ident.gallery.product_ids == [s.product_id for s in cat]
    crops = [render_product(s, rng, 48)[0] for s in cat]
    results = ident.identify(crops, k=3)
    assert len(results) == 6 and all(len(r) == 3 for r in results)
    hits = sum(r[0][0] == s.product_id for r, s in zip(results, cat, strict=True))
    assert hits >= 3  # colour layout alone identifies most of 6 products
    restricted = ident.identify(crops[:1], k=3, candidates=[cat[0].product_id, cat[1].product_id])
    assert {p for p, _ in restricted[0]} <= {cat[0].product_id, cat[1].product_id}
    assert ident.identify_object(crops[:2], k=2)[0][1] <= 1.0 + 1e-6


def test_malformed_gallery_index_is_a_one_line_error(tmp_path) -> None:
    # a product entry without "rows" (or with a repeated id / zero rows) was a KeyError traceback or loaded wrongly
    import json

    g = Gallery()
    g.add("a", np.eye(3, dtype=np.float32)[:2])
    g.add("b", np.eye(3, dtype=np.float32)[2:])
    g.save(tmp_path / "g")
    index_path = tmp_path / "g" / "gallery.json"
    good = json.loads(index_path.read_text())
    assert Gallery.load(tmp_path / "g").product_ids == ["a", "b"]
    for products in ([{"id": "a"}, {"id": "b", "rows": 1}], [{"id": "a", "rows": "x"}, {"id": "b", "rows": 1}],
                     [{"id": "a", "rows": 2}, {"id": "a", "rows": 1}], [{"id": "a", "rows": 3}, {"id": "b", "rows": 0}],
                     ["a", "b"]):
        index_path.write_text(json.dumps(dict(good, products=products)))
        with pytest.raises(UserError, match="gallery index"):
            Gallery.load(tmp_path / "g")
    index_path.write_text(json.dumps(dict(good, dim=5)))
    with pytest.raises(UserError, match="dimension 5"):
        Gallery.load(tmp_path / "g")
