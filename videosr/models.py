"""Small super-resolution networks for per-video overfitting: ESPCN, EDSR and WDSR builders.

Every model maps ``(B, 3, h, w) float32 in [0, 1]`` to ``(B, 3, s*h, s*w) float32`` (not clamped; clamp
to [0, 1] before quantising). Each carries ``scale: int`` and ``arch_kwargs: dict`` so that
``build_sr(name, scale, **model.arch_kwargs)`` rebuilds it exactly (the run folder's models.json stores both).

Width and depth are arguments so that k small chunk models can be compared with one larger model of the
same total inference cost (:func:`count_macs` gives the cost per LR pixel).

``residual="bicubic"`` (default) adds a fixed bicubic upscale of the input (Keys a=-0.5 like MATLAB,
edge-replicated) to the output, computed *before* the final ``nn.PixelShuffle`` as a constant 5x5
convolution producing the s*s sub-pixel phases; ``"nearest"`` repeats each LR pixel over the s*s
sub-pixel channels instead. The network then only learns the detail on top of a plain upscale, which
makes tiny CPU training budgets converge far faster. ``residual="none"`` gives the papers' plain
architectures. The fixed kernel is a non-persistent buffer (not in state dicts, rebuilt by the builder).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

SR_MODELS = ("espcn", "edsr", "wdsr")


RESIDUALS = ("bicubic", "nearest", "none")


def _cubic(x: float, a: float = -0.5) -> float:
    ax = abs(x)
    if ax <= 1:
        return (a + 2) * ax**3 - (a + 3) * ax**2 + 1
    if ax <= 2:
        return a * ax**3 - 5 * a * ax**2 + 8 * a * ax - 4 * a
    return 0.0


def bicubic_phase_kernel(scale: int) -> torch.Tensor:
    """(3*s*s, 3, 5, 5) conv weight whose PixelShuffle'd output is the bicubic upscale of the input.

    Sub-pixel phase i of LR pixel y sits at LR coordinate ``y + (i + 0.5)/s - 0.5``; its taps are
    ``y - 2 .. y + 2`` with Keys cubic weights (a = -0.5). Output channel ``c*s*s + i*s + j`` reads
    input channel c (PixelShuffle's channel order).
    """
    taps = []
    for i in range(scale):
        off = (i + 0.5) / scale - 0.5
        w = [_cubic(off - d) for d in range(-2, 3)]
        total = sum(w)
        taps.append([v / total for v in w])
    k1 = torch.tensor(taps, dtype=torch.float32)  # (s, 5)
    weight = torch.zeros(3 * scale * scale, 3, 5, 5)
    for c in range(3):
        for i in range(scale):
            for j in range(scale):
                weight[c * scale * scale + i * scale + j, c] = k1[i][:, None] * k1[j][None, :]
    return weight


class _Skip(nn.Module):
    """Fixed upscale of the input as s*s sub-pixel channels: (B, 3, h, w) -> (B, 3*s*s, h, w)."""

    weight: torch.Tensor

    def __init__(self, scale: int, mode: str) -> None:
        super().__init__()
        if mode not in RESIDUALS:
            raise ValueError(f"residual must be one of {RESIDUALS}, got {mode!r}")
        self.scale, self.mode = scale, mode
        self.register_buffer("weight", bicubic_phase_kernel(scale), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "bicubic":
            return nn.functional.conv2d(nn.functional.pad(x, (2, 2, 2, 2), mode="replicate"), self.weight)
        b, c, h, w = x.shape
        s2 = self.scale * self.scale
        return x.unsqueeze(2).expand(b, c, s2, h, w).reshape(b, c * s2, h, w)


class ESPCN(nn.Module):
    """ESPCN (Shi et al. 2016): conv5x5 F, conv3x3 F/2 (x ``depth``), conv3x3 3*s^2, PixelShuffle.

    Args:
        scale: upscaling factor s.
        features: channels of the first conv (paper: 64).
        mid_features: channels of the 3x3 layers (paper: 32).
        depth: number of 3x3 ``mid_features`` layers (paper: 1).
        residual: ``"bicubic"``, ``"nearest"`` or ``"none"`` upscale added before the shuffle (module docstring).
        activation: ``"lrelu"`` (LeakyReLU 0.1, default), ``"relu"`` or ``"tanh"`` (paper: tanh). With
            plain ReLU the 3x3 layer of this tiny network often dies within ~100 Adam steps at lr 1e-3
            (all its units negative for every input; measured on the generated clip), leaving the model
            stuck at its bicubic skip; LeakyReLU cannot die.
    """

    def __init__(
        self,
        scale: int,
        features: int = 64,
        mid_features: int = 32,
        depth: int = 1,
        residual: str = "bicubic",
        activation: str = "lrelu",
    ) -> None:
        super().__init__()
        acts: dict[str, Callable[[], nn.Module]] = {"lrelu": lambda: nn.LeakyReLU(0.1), "relu": nn.ReLU, "tanh": nn.Tanh}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}, got {activation!r}")
        act = acts[activation]
        self.scale = scale
        self.arch_kwargs = {
            "features": features,
            "mid_features": mid_features,
            "depth": depth,
            "residual": residual,
            "activation": activation,
        }
        layers: list[nn.Module] = [nn.Conv2d(3, features, 5, padding=2), act()]
        cin = features
        for _ in range(depth):
            layers += [nn.Conv2d(cin, mid_features, 3, padding=1), act()]
            cin = mid_features
        self.body = nn.Sequential(*layers)
        self.to_subpixels = nn.Conv2d(cin, 3 * scale * scale, 3, padding=1)
        self.skip = _Skip(scale, residual) if residual != "none" else None
        self.shuffle = nn.PixelShuffle(scale)
        if self.skip is not None:  # start as the plain upscale: the detail branch begins near zero
            nn.init.zeros_(self.to_subpixels.weight)
            if self.to_subpixels.bias is not None:
                nn.init.zeros_(self.to_subpixels.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) float32 in [0, 1] -> (B, 3, s*h, s*w) float32."""
        y = self.to_subpixels(self.body(x))
        if self.skip is not None:
            y = y + self.skip(x)
        return self.shuffle(y)


class _ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 with a scaled identity skip (EDSR) or a wide activation (WDSR-A)."""

    def __init__(self, features: int, expansion: int = 1, res_scale: float = 1.0) -> None:
        super().__init__()
        hidden = features * expansion
        self.body = nn.Sequential(
            nn.Conv2d(features, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, features, 3, padding=1)
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


def _upsampler(features: int, scale: int) -> nn.Sequential:
    """EDSR upsampler: x2 stages for scale 2 and 4, one x3 stage for scale 3 (conv + PixelShuffle)."""
    stages: list[nn.Module] = []
    if scale in (2, 4):
        for _ in range(scale // 2):
            stages += [nn.Conv2d(features, features * 4, 3, padding=1), nn.PixelShuffle(2)]
    elif scale == 3:
        stages += [nn.Conv2d(features, features * 9, 3, padding=1), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"EDSR supports scale 2, 3 or 4, got {scale}")
    return nn.Sequential(*stages)


class EDSR(nn.Module):
    """EDSR (Lim et al. 2017) baseline: head conv, ``blocks`` residual blocks, conv, skip, upsampler, tail.

    Input is centred by subtracting 0.5 (the paper subtracts the dataset RGB mean).
    ``residual`` (``"bicubic"``, ``"nearest"``, ``"none"``) adds that fixed upscale of the input.
    """

    def __init__(
        self, scale: int, features: int = 32, blocks: int = 4, res_scale: float = 1.0, residual: str = "bicubic"
    ) -> None:
        super().__init__()
        self.scale = scale
        self.arch_kwargs = {"features": features, "blocks": blocks, "res_scale": res_scale, "residual": residual}
        self.head = nn.Conv2d(3, features, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(features, 1, res_scale) for _ in range(blocks)])
        self.body_tail = nn.Conv2d(features, features, 3, padding=1)
        self.upsample = _upsampler(features, scale)
        self.tail = nn.Conv2d(features, 3, 3, padding=1)
        self.skip = _Skip(scale, residual) if residual != "none" else None
        self.skip_shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) float32 in [0, 1] -> (B, 3, s*h, s*w) float32."""
        f = self.head(x - 0.5)
        f = f + self.body_tail(self.body(f))
        y = self.tail(self.upsample(f))
        if self.skip is not None:
            return y + self.skip_shuffle(self.skip(x))
        return y + 0.5


class WDSR(nn.Module):
    """WDSR-A (Yu et al. 2018) without weight normalisation (plain convs export everywhere).

    Body: head conv F, ``blocks`` wide-activation residual blocks (F -> F*expansion -> F), conv to 3*s^2,
    PixelShuffle; plus the paper's global skip branch conv5x5(3 -> 3*s^2) + PixelShuffle on the input.
    """

    def __init__(self, scale: int, features: int = 32, blocks: int = 4, expansion: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.arch_kwargs = {"features": features, "blocks": blocks, "expansion": expansion}
        out = 3 * scale * scale
        self.head = nn.Conv2d(3, features, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(features, expansion) for _ in range(blocks)])
        self.tail = nn.Conv2d(features, out, 3, padding=1)
        self.skip = nn.Conv2d(3, out, 5, padding=2)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) float32 in [0, 1] -> (B, 3, s*h, s*w) float32."""
        xc = x - 0.5
        y = self.tail(self.body(self.head(xc))) + self.skip(xc)
        return self.shuffle(y) + 0.5


_BUILDERS: dict[str, Callable[..., nn.Module]] = {"espcn": ESPCN, "edsr": EDSR, "wdsr": WDSR}


def build_sr(name: str, scale: int, **kwargs: Any) -> nn.Module:
    """Build SR model ``name`` (``"espcn"``, ``"edsr"`` or ``"wdsr"``) for upscaling factor ``scale``.

    Keyword arguments are the architecture's width/depth options (see each class); unknown ones raise
    TypeError. The result has ``scale`` and ``arch_kwargs`` attributes (all options, defaults filled in).
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown SR model {name!r}; choose one of {', '.join(SR_MODELS)}")
    if scale not in (2, 3, 4):
        raise ValueError(f"scale must be 2, 3 or 4, got {scale}")
    return _BUILDERS[name](scale, **kwargs)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, lr_size: tuple[int, int] = (180, 320)) -> int:
    """Multiply-accumulates of one forward pass at LR size (h, w), counted over Conv2d layers."""
    macs = 0

    def hook(mod: nn.Conv2d, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        macs += int(out.numel() // out.shape[0]) * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *lr_size))
    finally:
        for h in handles:
            h.remove()
    return macs
