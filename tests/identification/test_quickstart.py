import json

import pytest

from identification import quickstart
from identification.model import load_embedder


def test_step_small(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(quickstart, "N_PRODUCTS", 14)
    monkeypatch.setattr(quickstart, "N_PICKS", 24)
    monkeypatch.setattr(quickstart, "EPOCHS", 1)
    monkeypatch.setattr(quickstart, "IMAGE_SIZE", 32)
    result = quickstart.step(tmp_path / "id", seed=0, context={})
    assert set(result.artifacts) == {"armbench_root", "embedder_checkpoint"}
    assert (result.artifacts["armbench_root"] / "train-test-split.pickle").is_file()
    model = load_embedder(result.artifacts["embedder_checkpoint"])
    assert model.input_size == (32, 32)
    report = json.loads((tmp_path / "id" / "report.json").read_text())
    assert report["before"]["picks_evaluated"] == report["after"]["picks_evaluated"] > 0
    assert result.figures["recall@1_trained"] == pytest.approx(report["after"]["recall@1"], abs=1e-3)
    assert report["before"]["split"] == report["after"]["split"] == "test"
    assert report["validation"]["split"] == "held-out"  # validation never on the test split
    assert report["validation"]["picks_evaluated"] == result.figures["val_picks"] > 0


@pytest.mark.slow
def test_step_full_improves_recall(tmp_path) -> None:
    result = quickstart.step(tmp_path / "id", seed=0, context={})
    assert result.figures["recall@1_trained"] > result.figures["recall@1_untrained"]


def test_fixture_cli(tmp_path) -> None:
    from demos.cli import main

    out = tmp_path / "ab"
    assert main(["identify", "fixture", "--out", str(out), "--products", "6", "--picks", "4", "--image-size", "24"]) == 0
    assert (out / "Picks").is_dir() and (out / "Reference_Images").is_dir()
    assert main(["identify", "fixture", "--out", str(out)]) == 2
