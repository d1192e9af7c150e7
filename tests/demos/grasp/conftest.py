"""Shared fixtures: a tiny random embedder checkpoint, a small generated ArmBench set, a scene bag."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One intra-op thread: the tiny models gain nothing from more, and a busy shared CPU loses a lot."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def embedder_ckpt(tmp_path_factory) -> Path:
    import torch

    from identification.model import build_embedder, save_embedder

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("embedder") / "embedder.pt"
    save_embedder(build_embedder("test_resnet", embed_dim=32, img_size=64), path)
    return path


@pytest.fixture(scope="session")
def armbench_root(tmp_path_factory) -> Path:
    from identification.fixture import generate_armbench

    root = tmp_path_factory.mktemp("armbench") / "armbench-object-id-0.1"
    generate_armbench(root, n_products=8, n_picks=4, seed=3, image_size=64)
    return root


@pytest.fixture(scope="session")
def scene_bag(tmp_path_factory, armbench_root) -> Path:
    from demos.grasp.quickstart import catalog_from_armbench
    from demos.grasp.scene import write_scene_bag

    bag = tmp_path_factory.mktemp("scene") / "bag"
    write_scene_bag(bag, catalog_from_armbench(armbench_root, 3), n_frames=3, seed=1)
    return bag
