from __future__ import annotations

import pytest
import torch

from export.coreml import ANE_UNFRIENDLY_OPS, convert_to_mlpackage, validate_mlpackage
from videosr.models import build_sr
from vision.common.errors import UserError


class _GatherNet(torch.nn.Module):
    """Conv + data-dependent index gather: the gather must be flagged as leaving the Neural Engine."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        idx = y.mean(dim=(2, 3)).argmax(dim=1)
        return torch.index_select(y, 1, idx)


@pytest.fixture(scope="module")
def espcn_package(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    model = build_sr("espcn", 2, features=8, mid_features=4).eval()
    path = tmp_path_factory.mktemp("coreml") / "sr.mlpackage"
    return convert_to_mlpackage(model, (torch.rand(1, 3, 16, 24),), path, ["lr"], ["hr"])


def test_spec_has_fixed_shapes_fp16_and_op_counts(espcn_package) -> None:
    report = validate_mlpackage(espcn_package, {"lr": (1, 3, 16, 24)}, {"hr": (1, 3, 32, 48)})
    assert report.spec_version >= 7  # iOS 16
    assert report.inputs == {"lr": [1, 3, 16, 24]} and report.outputs == {"hr": [1, 3, 32, 48]}
    assert report.op_counts["conv"] >= 3 and report.op_counts["pixel_shuffle"] == 1
    assert report.ane_unfriendly == [] and report.compressed_weights == 0 and report.problems == []


def test_spec_mismatch_is_a_user_error(espcn_package) -> None:
    with pytest.raises(UserError, match="shape"):
        validate_mlpackage(espcn_package, {"lr": (1, 3, 32, 32)})
    report = validate_mlpackage(espcn_package, {"image": (1, 3, 16, 24)}, raise_on_problem=False)
    assert any("missing input 'image'" in p for p in report.problems)
    with pytest.raises(UserError, match="mlpackage"):
        validate_mlpackage(espcn_package.parent)


def test_weight_compression_and_ane_flags(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_sr("espcn", 2, features=8, mid_features=4).eval()
    x = torch.rand(1, 3, 8, 8)
    q = convert_to_mlpackage(model, (x,), tmp_path / "q.mlpackage", ["lr"], ["hr"], compression="int8", compress_min_elements=0)
    assert validate_mlpackage(q).compressed_weights >= 3
    p = convert_to_mlpackage(model, (x,), tmp_path / "p.mlpackage", ["lr"], ["hr"], compression="palettize8", compress_min_elements=0)
    assert validate_mlpackage(p).compressed_weights >= 3
    g = convert_to_mlpackage(_GatherNet().eval(), (x,), tmp_path / "g.mlpackage", ["x"], ["y"])
    flagged = validate_mlpackage(g).ane_unfriendly
    assert flagged and set(flagged) <= ANE_UNFRIENDLY_OPS
    with pytest.raises(UserError, match="already exists"):
        convert_to_mlpackage(model, (x,), tmp_path / "q.mlpackage", ["lr"], ["hr"])
