from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
import torch

from export.onnx import EXPORTERS, export_onnx, op_counts
from export.parity import check_parity, compare_outputs, psnr
from export.quantize import (
    PRESETS,
    embedding_quantization_cost,
    quantize_onnx,
    sr_calibration_tiles,
    sr_quantization_cost,
)
from export.runtime import make_session
from videosr.models import build_sr
from vision.common.errors import UserError


def test_psnr_hand_computed() -> None:
    a = np.zeros((2, 2))
    b = np.full((2, 2), 0.1)
    assert psnr(a, b) == pytest.approx(20.0)  # mse 0.01 -> 10 log10(1 / 0.01)
    assert psnr(a, a) == math.inf
    assert psnr(np.zeros(4), np.array([0, 0, 0, 2.0]), peak=2.0) == pytest.approx(10 * math.log10(4 / 1.0))


def test_compare_outputs_and_failure_message() -> None:
    ref = [np.zeros((1, 3, 2, 2), np.float32), np.ones(3, np.float32)]
    cand = [ref[0] + 1e-3, ref[1]]
    rep = compare_outputs(ref, cand, ["img", "vec"], 1e-4, "m", image_outputs=(0,))
    assert not rep.passed and rep.max_abs_error == pytest.approx(1e-3) and rep.per_output["vec"] == 0
    assert rep.psnr_db == pytest.approx(60.0, abs=1e-3)
    with pytest.raises(UserError, match="shape"):
        compare_outputs(ref, [ref[0][..., :1], ref[1]], ["img", "vec"], 1e-4, "m")


def test_every_family_pins_exporter_and_opset() -> None:
    assert set(EXPORTERS) == {"sr", "embedder", "sam_encoder", "sam_decoder"}
    assert all(c.opset >= 17 and len(c.reason) > 40 for c in EXPORTERS.values())
    assert EXPORTERS["sam_decoder"].dynamo is False


@pytest.fixture(scope="module")
def espcn_onnx(tmp_path_factory):
    torch.manual_seed(0)
    model = build_sr("espcn", 2, features=8, mid_features=4).eval()
    with torch.no_grad():
        model.to_subpixels.weight.normal_(0, 0.05)
    path = export_onnx(model, (torch.rand(1, 3, 16, 16),), tmp_path_factory.mktemp("q") / "m.onnx", "sr", ["lr"], ["hr"])
    return model, path


def test_export_is_single_file_checked_and_refuses_overwrite(espcn_onnx) -> None:
    model, path = espcn_onnx
    assert not path.with_name(path.name + ".data").exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.onnx"]  # no temporary leftovers
    assert op_counts(path)["DepthToSpace"] == 1
    assert onnx.load(str(path)).opset_import[0].version == EXPORTERS["sr"].opset
    rep = check_parity(model, path, (torch.rand(1, 3, 16, 16),), ["lr"], ["hr"], image_outputs=(0,))
    assert rep.passed and rep.max_abs_error < 1e-5
    with pytest.raises(UserError, match="already exists"):
        export_onnx(model, (torch.rand(1, 3, 16, 16),), path, "sr", ["lr"], ["hr"])
    with pytest.raises(UserError, match="no ONNX export"):
        export_onnx(model, (torch.rand(1, 3, 16, 16),), path.with_name("x.onnx"), "tflite", ["lr"], ["hr"])


def test_parity_failure_is_user_error(espcn_onnx) -> None:
    model, path = espcn_onnx
    other = build_sr("espcn", 2, features=8, mid_features=4).eval()  # different weights
    with torch.no_grad():
        other.to_subpixels.weight.normal_(0, 0.05)
    with pytest.raises(UserError, match="differs from PyTorch"):
        check_parity(other, path, (torch.rand(1, 3, 16, 16),), ["lr"], ["hr"])


@pytest.mark.parametrize("preset", list(PRESETS))
def test_static_qdq_presets(espcn_onnx, preset: str, tmp_path) -> None:
    _, path = espcn_onnx
    rng = np.random.default_rng(0)
    frames = [(rng.random((24, 30, 3)) * 255).astype(np.uint8) for _ in range(2)]
    calib = sr_calibration_tiles(frames, (16, 16), 4, seed=0)
    assert calib.shape == (4, 3, 16, 16) and calib.dtype == np.float32 and 0 <= calib.min() and calib.max() <= 1
    q = quantize_onnx(path, tmp_path / "q.onnx", calib, "lr", preset=preset)
    counts = op_counts(q)
    assert counts["QuantizeLinear"] >= 3 and counts["DequantizeLinear"] >= 6
    model = onnx.load(str(q))
    act_types = {n.input[2] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    zero_points = {i.name: i.data_type for i in model.graph.initializer if i.name in act_types}
    expected = {"QUInt8": onnx.TensorProto.UINT8, "QUInt16": onnx.TensorProto.UINT16}[PRESETS[preset].activation]
    assert set(zero_points.values()) == {expected}
    x = calib[:1]
    f = make_session(path).run(None, {"lr": x})[0]
    o = make_session(q).run(None, {"lr": x})[0]
    cost = sr_quantization_cost([f], [o], hr=[f])
    assert cost["psnr_fp32"] == math.inf and cost["psnr_int8_vs_fp32"] > 35
    assert cost["psnr_drop_db"] == math.inf  # identical reference: drop is inf - finite


def test_calibration_tiles_follow_labels() -> None:
    frame = np.zeros((20, 20, 3), np.uint8)
    frame[10:, 10:] = 255  # bottom-right patch is white
    labels = np.array([[[0, 0], [0, 1]]], np.uint8)
    tiles = sr_calibration_tiles([frame], (6, 6), 5, seed=0, grid_labels=labels, label=1)
    assert np.all(tiles == 1.0)
    with pytest.raises(UserError):
        quantize_onnx("unused.onnx", "out.onnx", np.zeros((0, 3, 4, 4), np.float32), "lr")


def test_embedding_cost_brute_force() -> None:
    rng = np.random.default_rng(0)
    fp32 = rng.normal(size=(6, 4))
    int8 = fp32 + rng.normal(scale=0.05, size=fp32.shape)
    labels = np.array([0, 0, 1, 1, 2, 2])
    cost = embedding_quantization_cost(fp32, int8, labels)
    cos = [a @ b / np.linalg.norm(a) / np.linalg.norm(b) for a, b in zip(fp32, int8, strict=True)]
    assert cost["cosine_mean"] == pytest.approx(np.mean(cos)) and cost["cosine_min"] == pytest.approx(min(cos))
    hits = 0
    for i in range(6):  # leave-one-out nearest neighbour by cosine, explicit loop
        sims = [(-np.inf if j == i else fp32[i] @ fp32[j] / np.linalg.norm(fp32[i]) / np.linalg.norm(fp32[j])) for j in range(6)]
        hits += labels[int(np.argmax(sims))] == labels[i]
    assert cost["recall@1_fp32"] == pytest.approx(hits / 6)


def test_embedding_cost_with_gallery_and_holdout_split_brute_force() -> None:
    from export.quantize import holdout_split

    rng = np.random.default_rng(1)
    queries, gallery = rng.normal(size=(5, 4)), rng.normal(size=(7, 4))
    qlab, glab = np.array([0, 1, 2, 0, 1]), np.array([0, 0, 1, 1, 2, 2, 2])
    g8 = gallery + rng.normal(scale=0.3, size=gallery.shape)
    q8 = queries + rng.normal(scale=0.3, size=queries.shape)
    cost = embedding_quantization_cost(queries, q8, qlab, (gallery, g8, glab))

    def recall(q: np.ndarray, g: np.ndarray) -> float:
        hits = 0
        for i in range(len(q)):
            sims = [q[i] @ g[j] / np.linalg.norm(q[i]) / np.linalg.norm(g[j]) for j in range(len(g))]
            hits += glab[int(np.argmax(sims))] == qlab[i]
        return hits / len(q)

    assert cost["recall@1_fp32"] == pytest.approx(recall(queries, gallery))
    assert cost["recall@1_int8"] == pytest.approx(recall(q8, g8))
    labels = np.array(["a"] * 8 + ["b"] * 2 + ["c"])
    calib, held = holdout_split(labels, len(labels))
    assert sorted(calib.tolist() + held.tolist()) == list(range(11)) and not set(calib) & set(held)
    assert [int(np.sum(labels[held] == v)) for v in "abc"] == [2, 1, 0]  # a quarter of 8, at least 1 of 2, none of 1
    assert len(holdout_split(None, 8)[1]) == 2
    with pytest.raises(UserError, match="at least 2 reference images"):
        holdout_split(np.array(["a", "b"]), 2)
