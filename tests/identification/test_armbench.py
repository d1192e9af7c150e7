import json
import os
import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from identification.armbench import hold_out_products, load_armbench, load_split, read_rgb
from vision.common.errors import UserError


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ab"
    shutil.copytree(src, dst)
    return dst


def test_load_both_splits(armbench_root) -> None:
    split = pickle.loads((armbench_root / "train-test-split.pickle").read_bytes())
    for name, key in (("train", "trainset"), ("test", "testset")):
        data = load_armbench(armbench_root, name)
        assert [p.pick_id for p in data.picks] == split[key]
        assert data.picks_skipped == 0
        for pick in data.picks:
            assert list(pick.views)[0] == "PickRGB.jpg"
            assert pick.query_views("pre-pick") == [pick.views["PickRGB.jpg"]]
            assert pick.query_views("post-pick") == list(pick.views.values())
        for refs in data.references.values():
            assert [r.name for r in refs] == [f"{k}.jpg" for k in range(1, len(refs) + 1)]
    assert not set(load_armbench(armbench_root, "train").objects) & set(load_armbench(armbench_root, "test").objects)


def test_restricted_unpickler_refuses_malicious_pickle(tmp_path) -> None:
    bad = tmp_path / "train-test-split.pickle"
    bad.write_bytes(pickle.dumps({"trainset": [_Evil()], "testset": [], "trainset-objects": [], "testset-objects": []}))
    with pytest.raises(UserError, match="refus.*posix.system|refus.*os.system|refusing"):
        load_split(bad)
    bad.write_bytes(pickle.dumps({"trainset": [Path("x")], "testset": [], "trainset-objects": [], "testset-objects": []}))
    with pytest.raises(UserError, match="refus"):
        load_split(bad)


def test_split_with_wrong_shape_or_garbage(tmp_path) -> None:
    p = tmp_path / "s.pickle"
    p.write_bytes(pickle.dumps({"trainset": ["a"], "testset": [1], "trainset-objects": [], "testset-objects": []}))
    with pytest.raises(UserError, match="testset"):
        load_split(p)
    p.write_bytes(b"not a pickle at all")
    with pytest.raises(UserError):
        load_split(p)


def test_missing_top_level_folders(armbench_root, tmp_path) -> None:
    root = _copy(armbench_root, tmp_path)
    shutil.rmtree(root / "Reference_Images")
    with pytest.raises(UserError, match="Reference_Images"):
        load_armbench(root, "test")
    shutil.rmtree(root / "Picks")
    with pytest.raises(UserError, match="Picks"):
        load_armbench(root, "test")
    with pytest.raises(UserError, match="split"):
        load_armbench(armbench_root, "val")


def test_bad_picks_are_skipped_and_counted(armbench_root, tmp_path) -> None:
    root = _copy(armbench_root, tmp_path)
    split = load_split(root / "train-test-split.pickle")
    picks = split["testset"]
    (root / "Picks" / picks[0] / "container.json").write_text("{broken")
    (root / "Picks" / picks[1] / "annotation.json").write_text(json.dumps(["no", "dict"]))
    (root / "Picks" / picks[2] / "PickRGB.jpg").unlink()
    split["testset"] = [*picks, "does-not-exist"]
    (root / "train-test-split.pickle").write_bytes(pickle.dumps(split))
    data = load_armbench(root, "test")
    assert dict(data.skipped) == {
        "container_unreadable": 1, "annotation_unreadable": 1, "pick_image_missing": 1, "pick_folder_missing": 1}
    assert len(data.picks) == len(picks) - 3
    split["testset"] = ["nope1", "nope2"]
    (root / "train-test-split.pickle").write_bytes(pickle.dumps(split))
    with pytest.raises(UserError, match="none could be read"):
        load_armbench(root, "test")


def test_read_rgb_corrupt(tmp_path, armbench_root) -> None:
    good = next((armbench_root / "Reference_Images").glob("*/1.jpg"))
    img = read_rgb(good)
    assert img is not None and img.shape == (48, 48, 3)
    trunc = tmp_path / "t.jpg"
    trunc.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    assert read_rgb(trunc) is None
    (tmp_path / "z.jpg").write_bytes(b"\xff\xd8garbage")
    assert read_rgb(tmp_path / "z.jpg") is None


def test_hold_out_products_disjoint_and_deterministic(armbench_root) -> None:
    train, test = load_armbench(armbench_root, "train"), load_armbench(armbench_root, "test")
    candidates = sorted({p.gt for p in train.picks})
    part, val = hold_out_products(train, 0.2, seed=0)
    held, trained = {p.gt for p in val.picks}, {p.gt for p in part.picks}
    assert len(held) == max(1, round(0.2 * len(candidates))) and held <= set(candidates)
    assert not held & trained  # held-out products never trained on ...
    assert not held & (set(test.objects) | {p.gt for p in test.picks})  # ... and not test products
    assert trained == set(candidates) - held
    assert sorted(p.pick_id for p in part.picks + val.picks) == sorted(p.pick_id for p in train.picks)
    assert not held & (set(part.objects) | set(part.references))
    assert val.split == "held-out" and part.split == "train"
    assert val.objects == train.objects and set(val.references) == set(train.objects)  # gallery "all"
    _, val_h = hold_out_products(train, 0.2, seed=0, gallery="held-out")
    assert set(val_h.objects) == held & set(train.objects)
    # deterministic for a seed: another load, another pick order, same products and picks
    again_part, again = hold_out_products(replace(load_armbench(armbench_root, "train"),
                                                  picks=train.picks[::-1]), 0.2, seed=0)
    assert {p.gt for p in again.picks} == held
    assert {p.pick_id for p in again.picks} == {p.pick_id for p in val.picks}
    assert len({frozenset(p.gt for p in hold_out_products(train, 0.2, s)[1].picks) for s in range(6)}) > 1
    # at least one product held out, at least two kept for training
    assert len({p.gt for p in hold_out_products(train, 0.01, 0)[1].picks}) == 1
    assert len({p.gt for p in hold_out_products(train, 0.99, 0)[0].picks}) == 2
    for bad in ({"fraction": 0.0}, {"fraction": 1.0}, {"fraction": 0.2, "gallery": "test"}):
        with pytest.raises(UserError):
            hold_out_products(train, seed=0, **bad)
    with pytest.raises(UserError, match="at least 3"):
        hold_out_products(replace(train, picks=[p for p in train.picks if p.gt in candidates[:2]]), 0.5, 0)


def test_restricted_unpickler_refuses_globals_from_every_opcode(tmp_path, monkeypatch) -> None:
    # Besides GLOBAL/STACK_GLOBAL (covered above), callables can arrive through the copyreg extension registry
    # (EXT1), the protocol-0 INST opcode and persistent ids; none may run. ``calls`` records any execution.
    import copyreg

    calls = []
    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd))
    copyreg.add_extension("os", "system", 240)
    try:
        payloads = {
            "ext1": b"\x80\x02\x82\xf0X\x04\x00\x00\x00trueq\x00\x85R.",  # EXT1 240 -> os.system("true")
            "inst": b"(S'true'\nios\nsystem\n.",  # INST os system with ("true",)
            "persid": b"Pfoo\n.",
        }
        for name, data in payloads.items():
            p = tmp_path / f"{name}.pickle"
            p.write_bytes(data)
            with pytest.raises(UserError, match="refused|not a readable pickle"):
                load_split(p)
    finally:
        copyreg.remove_extension("os", "system", 240)
    assert calls == []
