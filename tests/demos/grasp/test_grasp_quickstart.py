"""The grasp quickstart step on the identification step's artifacts (tiny embedder, generated ArmBench)."""

from __future__ import annotations

import json

import pytest

from demos.grasp.quickstart import catalog_from_armbench, step
from vision.common.errors import UserError


def test_catalog_is_recovered_from_the_armbench_set(armbench_root) -> None:
    catalog = catalog_from_armbench(armbench_root, seed_hint=0)  # generated with seed 3: found by search
    refs = sorted(p.name for p in (armbench_root / "Reference_Images").iterdir() if any(p.iterdir()))
    assert [s.product_id for s in catalog] == refs


def test_step_reports_figures_and_outputs(tmp_path, armbench_root, embedder_ckpt) -> None:
    result = step(tmp_path / "grasp", 0, {"embedder_checkpoint": embedder_ckpt, "armbench_root": armbench_root})
    assert result.name == "grasp"
    assert set(result.figures) == {"identification_accuracy", "identification_accuracy_open_set",
                                   "grasp_on_right_object", "grasp_on_segmented_object", "node_fps"}
    assert 0.0 <= result.figures["identification_accuracy"] <= 1.0
    assert result.figures["grasp_on_segmented_object"] >= 0.9
    assert all(p.exists() for p in result.outputs)
    report = json.loads((result.artifacts["grasp_output"] / "report.json").read_text())
    assert report["frames"] == 8 and report["input_stats"]["unmatched_rgb"] == 0


def test_step_without_identification_artifacts(tmp_path) -> None:
    with pytest.raises(UserError, match="needs the identification step's embedder_checkpoint"):
        step(tmp_path, 0, {})
