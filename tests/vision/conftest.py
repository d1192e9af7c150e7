"""Shared fixtures for the vision tests: one small generated BOP dataset per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bop_root(tmp_path_factory) -> Path:
    """A small BOP fixture (4 objects, 1 scene x 3 images of 240x320); treat as read-only."""
    from vision.bop.fixture import generate_bop

    root = tmp_path_factory.mktemp("bop") / "fx"
    generate_bop(root, n_objects=4, n_scenes=1, images_per_scene=3, seed=3, image_size=(240, 320),
                 objects_per_image=(3, 4), onboarding_views=2, onboarding_size=96)
    return root


@pytest.fixture()
def bop_copy(bop_root, tmp_path) -> Path:
    """A private copy of the fixture that a test may damage."""
    dst = tmp_path / "fx"
    shutil.copytree(bop_root, dst)
    return dst
