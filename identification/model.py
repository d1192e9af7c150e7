"""The embedding network: any timm backbone, an optional projection and BNNeck, L2-normalised output.

``build_embedder("vit_base_patch16_384", embed_dim=None, neck="bnneck", pretrained=True)`` returns a plain
:class:`Embedder` (``nn.Module``). Its ``forward`` takes images in [0, 1] and does the ImageNet-style
normalisation itself, so exported graphs and callers never need to know the backbone's mean/std.

Checkpoints: :func:`save_embedder` / :func:`load_embedder` live here. ``load_embedder`` reads our own file
(``{"format": "edgevision-embedder", "config": ..., "state_dict": ...}``) and Lightning ``.ckpt`` files
written by :class:`identification.lit.CTLModule`, always with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from vision.common.errors import UserError, require_file
from vision.common.progress import get_logger

NECKS = ("none", "bnneck")
CHECKPOINT_FORMAT = "edgevision-embedder"
_log = get_logger(__name__)


class Embedder(nn.Module):
    """Backbone -> (projection) -> (BNNeck) -> L2 normalisation.

    Args:
        backbone: a module mapping (B, 3, H, W) normalised images to pooled features (B, F).
        feature_dim: F.
        embed_dim: output dimension D; ``None`` keeps F (no projection layer).
        neck: ``"none"`` or ``"bnneck"`` (BatchNorm1d without learnable shift, as in the "bag of tricks"
            re-id recipe: the triplet terms see the features before it, the classifier and retrieval after).
        input_size: (H, W) the backbone expects.
        mean, std: per-channel normalisation applied inside ``forward`` (values for [0, 1] inputs).
        backbone_name: the timm name, recorded in checkpoints.
        config: the keyword arguments of :func:`build_embedder` that rebuild this model.
    """

    mean: torch.Tensor  # (1, 3, 1, 1) buffers, registered in __init__
    std: torch.Tensor

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        embed_dim: int | None,
        neck: str,
        input_size: tuple[int, int],
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        backbone_name: str,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if neck not in NECKS:
            raise UserError(f"neck must be one of {', '.join(NECKS)}, got {neck!r}")
        self.backbone = backbone
        self.projection = nn.Linear(feature_dim, embed_dim) if embed_dim else nn.Identity()
        self.embed_dim = int(embed_dim or feature_dim)
        self.neck_type = neck
        if neck == "bnneck":
            self.neck: nn.Module = nn.BatchNorm1d(self.embed_dim)
            self.neck.bias.requires_grad_(False)
        else:
            self.neck = nn.Identity()
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.backbone_name = backbone_name
        self.config = dict(config or {})
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) float32 in [0, 1] -> (pre-neck (B, D), post-neck (B, D)), both unnormalised."""
        feats = self.projection(self.backbone((x - self.mean) / self.std))
        return feats, self.neck(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float32 in [0, 1] -> (B, D) float32 with unit L2 norm."""
        return F.normalize(self.features(x)[1], dim=1)


def _create(backbone: str, img_size: int | None, **kwargs: Any) -> nn.Module:
    """``timm.create_model`` with ``num_classes=0``; ``img_size`` is passed only to models that take it
    (ViT, DeiT, DINOv2, Swin ...); CNNs raise ``TypeError`` for it and are built without."""
    import timm

    if img_size is not None:
        try:
            return timm.create_model(backbone, num_classes=0, img_size=img_size, **kwargs)
        except TypeError as err:
            if "img_size" not in str(err):
                raise
    return timm.create_model(backbone, num_classes=0, **kwargs)


def build_embedder(
    backbone: str,
    embed_dim: int | None = None,
    neck: str = "none",
    pretrained: bool | str = False,
    img_size: int | None = None,
) -> Embedder:
    """Build an :class:`Embedder` around timm model ``backbone``.

    Args:
        backbone: any timm model name (``"resnet18"``, ``"vit_base_patch16_384"``,
            ``"vit_small_patch14_dinov2"``, ...).
        embed_dim: projection output size, or ``None`` for the backbone's pooled feature size.
        neck: ``"none"`` or ``"bnneck"``.
        pretrained: ``False`` for random init, ``True`` for timm's weights (needs network or the timm cache),
            or a path to a local weights file (``.safetensors``, ``.pth``, ``.bin``) in timm's layout for this
            model; its SHA-256 is logged and recorded in ``model.config["pretrained_sha256"]``.
        img_size: square input side for models whose input size is configurable (ViT family); for CNNs it
            only sets the resize applied by callers. Default: the model's own input size.
    """
    import timm

    if not timm.is_model(backbone.split(".")[0]):
        raise UserError(f"unknown timm backbone {backbone!r} (see timm.list_models())")
    config: dict[str, Any] = {"backbone": backbone, "embed_dim": embed_dim, "neck": neck, "img_size": img_size}
    if isinstance(pretrained, str | os.PathLike) and str(pretrained) not in ("", "False", "false"):
        from vision.common.runinfo import sha256_file

        path = require_file(pretrained, "pretrained weights file")
        digest = sha256_file(path)
        _log.info("pretrained weights %s sha256=%s", path, digest)
        print(f"pretrained weights: {path} sha256={digest}")
        try:
            net = _create(backbone, img_size, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
        except (RuntimeError, KeyError, ValueError, OSError) as err:
            raise UserError(f"cannot load weights for {backbone}: {str(err).splitlines()[0]}", path) from err
        config["pretrained_sha256"] = digest
    elif pretrained is True:
        try:
            net = _create(backbone, img_size, pretrained=True)
        except Exception as err:  # offline machines: hub/network errors of many types
            raise UserError(
                f"cannot fetch pretrained weights for {backbone} ({type(err).__name__}); "
                "pass a local file with --pretrained-path or use --no-pretrained"
            ) from err
    else:
        net = _create(backbone, img_size, pretrained=False)
    data_cfg = timm.data.resolve_model_data_config(net)
    size = (img_size, img_size) if img_size else tuple(data_cfg["input_size"][1:])
    return Embedder(
        net,
        feature_dim=int(cast(int, getattr(net, "head_hidden_size", None) or net.num_features)),
        embed_dim=embed_dim,
        neck=neck,
        input_size=size,
        mean=tuple(data_cfg["mean"]),
        std=tuple(data_cfg["std"]),
        backbone_name=backbone,
        config=config,
    )


def rebuild_config(config: dict[str, Any]) -> dict[str, Any]:
    """The :func:`build_embedder` keyword arguments in ``config`` (random init; weights come from the file)."""
    defaults = {"embed_dim": None, "neck": "none", "img_size": None}
    return {"backbone": config["backbone"]} | {k: config.get(k, v) for k, v in defaults.items()} | {"pretrained": False}


def save_embedder(model: Embedder, path: str | os.PathLike[str], overwrite: bool = True) -> Path:
    """Write ``model`` as ``{"format", "version", "config", "state_dict"}`` (loadable with weights_only)."""
    from vision.common.atomic import atomic_path

    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
        "config": dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path, overwrite) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_embedder(path: str | os.PathLike[str], backbone: str | None = None) -> Embedder:
    """Load an :class:`Embedder` from our checkpoint or a Lightning ``.ckpt`` of ``CTLModule`` (eval mode).

    Args:
        path: the checkpoint file.
        backbone: if given, the checkpoint must hold this backbone (else a one-line :class:`UserError`).
    """
    p = require_file(path, "checkpoint")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors, truncated zip, non-plain objects
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        if "weights only" in first.lower():  # torch's text goes on to suggest weights_only=False: never do that
            first = "not a PyTorch checkpoint, or it holds objects other than tensors and plain containers"
        raise UserError(f"cannot read checkpoint safely: {first}", p) from err
    if not isinstance(payload, dict):
        raise UserError("not an embedder checkpoint (expected a dict)", p)
    if payload.get("format") == CHECKPOINT_FORMAT:
        config, state = payload.get("config"), payload.get("state_dict")
    elif "embedder_config" in payload and "state_dict" in payload:  # Lightning checkpoint of CTLModule
        config = payload["embedder_config"]
        state = {k[len("model.") :]: v for k, v in payload["state_dict"].items() if k.startswith("model.")}
    else:
        raise UserError("not an edgevision embedder checkpoint (no embedder config inside)", p)
    if not isinstance(config, dict) or not isinstance(state, dict) or "backbone" not in config:
        raise UserError("embedder checkpoint lacks its config or weights", p)
    if backbone is not None and backbone != config["backbone"]:
        raise UserError(f"checkpoint holds backbone {config['backbone']!r}, not {backbone!r}", p)
    model = build_embedder(**rebuild_config(config))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise UserError(f"weights do not match backbone {config['backbone']!r}: {str(err).splitlines()[0]}", p) from err
    model.config = dict(config)
    return model.eval()
