from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from export.onnx import export_onnx, op_counts
from export.pixelshuffle import (
    convert_depth_to_space_dcr,
    dcr_permutation,
    depth_to_space,
    depth_to_space_modes,
)
from export.runtime import make_session
from videosr.models import build_sr


@pytest.mark.parametrize("block,channels_out", [(2, 3), (3, 1), (4, 3)])
def test_reference_orders_match_torch_and_permutation(block: int, channels_out: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((2, channels_out * block * block, 5, 4), dtype=np.float32)
    crd = depth_to_space(x, block, "CRD")
    np.testing.assert_array_equal(crd, torch.nn.PixelShuffle(block)(torch.from_numpy(x)).numpy())
    perm = dcr_permutation(x.shape[1], block)
    assert sorted(perm.tolist()) == list(range(x.shape[1]))
    np.testing.assert_array_equal(depth_to_space(x[:, perm], block, "DCR"), crd)
    if channels_out > 1:  # the orders really differ (for one output channel they coincide)
        assert not np.array_equal(depth_to_space(x, block, "DCR"), crd)


def test_dcr_permutation_hand_computed() -> None:
    # C=2, b=2: new index k*C + c takes old c*4 + k
    assert dcr_permutation(8, 2).tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


@pytest.mark.parametrize("arch", ["espcn", "edsr", "wdsr"])
def test_onnx_rewrite_gives_identical_outputs(arch: str, tmp_path) -> None:
    torch.manual_seed(0)
    kwargs = {"espcn": {"features": 8, "mid_features": 4}, "edsr": {"features": 8, "blocks": 1}, "wdsr": {"features": 8, "blocks": 1}}
    model = build_sr(arch, 4, **kwargs[arch]).eval()
    x = torch.rand(1, 3, 12, 10)
    path = export_onnx(model, (x,), tmp_path / "m.onnx", "sr", ["lr"], ["hr"])
    original = onnx.load(str(path))
    assert set(depth_to_space_modes(original)) == {"CRD"}
    rewritten, stats = convert_depth_to_space_dcr(original)
    onnx.checker.check_model(rewritten, full_check=True)
    assert set(depth_to_space_modes(rewritten)) == {"DCR"}
    assert stats["depth_to_space_converted"] == len(depth_to_space_modes(original))
    assert stats["folded_into_conv"] >= 1
    if arch != "espcn":  # every branch into the shuffle is a conv: nothing left to gather
        assert "Gather" not in op_counts(rewritten)
    onnx.save(rewritten, str(tmp_path / "dcr.onnx"))
    a = make_session(path).run(None, {"lr": x.numpy()})[0]
    b = make_session(tmp_path / "dcr.onnx").run(None, {"lr": x.numpy()})[0]
    np.testing.assert_array_equal(a, b)
    with torch.no_grad():
        np.testing.assert_allclose(b, model(x).numpy(), atol=1e-5)


def test_per_channel_prelu_before_the_shuffle_keeps_outputs(tmp_path) -> None:
    """PReLU's per-channel slopes must follow the channel permutation into the DCR graph."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.PReLU(12), torch.nn.PixelShuffle(2)).eval()
    with torch.no_grad():
        model[1].weight.uniform_(-2.0, 2.0)
    x = torch.rand(1, 3, 8, 8)
    path = export_onnx(model, (x,), tmp_path / "m.onnx", "sr", ["lr"], ["hr"])
    rewritten, stats = convert_depth_to_space_dcr(onnx.load(str(path)))
    assert set(depth_to_space_modes(rewritten)) == {"DCR"} and stats["folded_into_conv"] == 1
    onnx.save(rewritten, str(tmp_path / "dcr.onnx"))
    a = make_session(path).run(None, {"lr": x.numpy()})[0]
    b = make_session(tmp_path / "dcr.onnx").run(None, {"lr": x.numpy()})[0]
    np.testing.assert_array_equal(a, b)
