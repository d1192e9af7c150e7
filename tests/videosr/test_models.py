"""Contract test for every SR builder: shapes, rebuild from arch_kwargs, backward, trace."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videosr.io import imresize
from videosr.models import SR_MODELS, build_sr, count_macs, count_params


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("name", SR_MODELS)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_backward_rebuild(name: str, scale: int) -> None:
    torch.manual_seed(0)
    model = build_sr(name, scale, features=8)
    x = torch.rand(2, 3, 6, 7)
    y = model(x)
    assert y.shape == (2, 3, 6 * scale, 7 * scale) and y.dtype == torch.float32
    y.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    again = build_sr(name, scale, **model.arch_kwargs)
    again.load_state_dict(model.state_dict())
    assert again.scale == scale
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
        traced = torch.jit.trace(model.eval(), x)
        torch.testing.assert_close(traced(x), model(x))


def test_espcn_layout_and_residual_start() -> None:
    model = build_sr("espcn", 4)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [(3, 64, 5), (64, 32, 3), (32, 48, 3)]
    assert isinstance(list(model.modules())[-1], torch.nn.PixelShuffle)
    # residual ESPCN starts close to MATLAB-like bicubic upsampling (interior; edges are replicated)
    x = torch.rand(1, 3, 8, 8)
    img = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    ref = imresize(img, 32, 32).astype(np.float64) / 255
    out = model(x).clamp(0, 1)[0].permute(1, 2, 0).detach().numpy()
    assert np.abs(out - ref)[8:-8, 8:-8].max() < 0.6 / 255
    near = build_sr("espcn", 4, residual="nearest")
    expected = torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")
    assert (near(x) - expected).abs().max() < 0.05
    plain = build_sr("espcn", 4, residual="none")
    assert plain.arch_kwargs["residual"] == "none"
    assert "skip.weight" not in model.state_dict()


def test_width_changes_cost_and_bad_names() -> None:
    small, big = build_sr("espcn", 2, features=16, mid_features=8), build_sr("espcn", 2)
    assert count_params(small) < count_params(big)
    assert count_macs(small, (10, 10)) < count_macs(big, (10, 10))
    # hand count: 5*5*3*16 + 3*3*16*8 + 3*3*8*12 MACs per LR pixel
    assert count_macs(small, (10, 10)) == 100 * (5 * 5 * 3 * 16 + 3 * 3 * 16 * 8 + 3 * 3 * 8 * 12)
    with pytest.raises(ValueError):
        build_sr("srgan", 2)
    with pytest.raises(ValueError):
        build_sr("espcn", 5)
