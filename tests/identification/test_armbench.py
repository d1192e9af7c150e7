import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from identification.armbench import load_armbench, load_split, read_rgb
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
