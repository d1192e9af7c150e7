"""Reproducibility and provenance: seeding, machine/version info for reports, SHA-256 of files."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import random
from pathlib import Path
from typing import Any

DEFAULT_PACKAGES = ("torch", "torchvision", "numpy", "timm", "onnx", "onnxruntime", "opencv-python-headless")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (if importable) torch for a reproducible run."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    import numpy as np

    np.random.seed(seed % (2**32))
    try:
        import torch
    except ImportError:  # the torch-free player seeds nothing else
        return
    torch.manual_seed(seed)


def package_versions(names: tuple[str, ...] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None for those not installed), without importing them."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_info(packages: tuple[str, ...] = DEFAULT_PACKAGES) -> dict[str, Any]:
    """A description of this machine for benchmark and run reports."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(packages),
    }


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (checkpoints can be several GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()
