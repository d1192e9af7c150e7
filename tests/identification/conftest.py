"""Shared fixtures: a tiny generated ArmBench dataset and a cheap deterministic embedder."""

from pathlib import Path

import pytest
import torch
from torch import nn

from identification.fixture import generate_armbench
from identification.model import Embedder


def pooled_embedder(size: int = 32) -> Embedder:
    """An Embedder whose 'backbone' is a 4x4 average pool (48 colour-layout features): fast, deterministic."""
    backbone = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten())
    return Embedder(backbone, 48, None, "none", (size, size), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "pool4",
                    config={"backbone": "pool4"}).eval()


@pytest.fixture(scope="session")
def armbench_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("armbench") / "armbench-object-id-0.1"
    generate_armbench(root, n_products=18, n_picks=30, seed=5, image_size=48)
    return root


@pytest.fixture()
def embedder_pool():
    torch.manual_seed(0)
    return pooled_embedder()
