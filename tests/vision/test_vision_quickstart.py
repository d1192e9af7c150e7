"""The vision quickstart step on its own (with a tiny untrained embedder standing in for the trained one)."""

import json

import pytest
import torch

from vision.common.errors import UserError
from vision.quickstart import step


def test_quickstart_step(tmp_path):
    from identification.model import build_embedder, save_embedder

    torch.manual_seed(0)
    ckpt = save_embedder(build_embedder("test_resnet", img_size=64).eval(), tmp_path / "emb.pt")
    res = step(tmp_path / "vision", 0, {"embedder_checkpoint": ckpt})
    assert set(res.figures) == {"segm_AP", "bbox_AP", "proposals/image", "ms/image"}
    assert 0.0 <= res.figures["segm_AP"] <= 1.0 and res.figures["proposals/image"] > 0
    results, scores, annotated = res.outputs
    assert results.name == "edgevision_fixture-test.json" and json.loads(results.read_text())
    s = json.loads(scores.read_text())
    assert s["segm"]["images"] == 8 and s["segm"]["AP"] == pytest.approx(res.figures["segm_AP"], abs=1e-4)
    assert len(list(annotated.glob("*.png"))) == 8
    assert res.artifacts["bop_fixture"].is_dir()


def test_quickstart_step_needs_the_embedder(tmp_path):
    with pytest.raises(UserError, match="embedder checkpoint"):
        step(tmp_path / "vision", 0, {})
