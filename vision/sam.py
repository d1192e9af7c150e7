"""Segment Anything: official checkpoint registry, verified loading, presets, automatic and prompted masks.

Model code comes from the ``segment-anything`` package; this module adds what a robot deployment needs:

* :data:`SAM_CHECKPOINTS`: the three official checkpoints with download URL and SHA-256. Meta's README
  publishes URLs but no checksums; the SHA-256 values below are the ones independently recorded by several
  public projects (e.g. micro-sam's model registry) for the files at those URLs, and agree with each other.
* :func:`build_sam`: builds ``vit_b``/``vit_l``/``vit_h`` and loads a checkpoint only after verifying its
  SHA-256 (a known checkpoint of another model type, a hash mismatch or a state dict that does not fit
  are :class:`UserError`), with ``torch.load(weights_only=True)``.
* :func:`download_sam`: fetch a checkpoint with urllib where the network allows (one-line error otherwise).
* :data:`AMG_PRESETS` + :class:`SamSegmenter`: automatic mask generation (the paper's settings and a CPU
  preset) with per-stage timings, and :meth:`SamSegmenter.segment_points` for batched point prompts.
* :func:`build_tiny_sam`: a tiny randomly initialised SAM from the package's own modules, for tests.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from segment_anything import SamAutomaticMaskGenerator, SamPredictor, sam_model_registry
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from vision.common.atomic import atomic_path
from vision.common.errors import UserError, require_file
from vision.common.progress import get_logger
from vision.common.runinfo import sha256_file
from vision.proposals import Proposal, mask_bbox

LOG = get_logger(__name__)


@dataclass(frozen=True)
class SamCheckpoint:
    """An official SAM checkpoint: file name, model type, URL and SHA-256 (hex)."""

    filename: str
    model_type: str
    url: str
    sha256: str


_BASE = "https://dl.fbaipublicfiles.com/segment_anything/"
SAM_CHECKPOINTS: dict[str, SamCheckpoint] = {
    "vit_h": SamCheckpoint("sam_vit_h_4b8939.pth", "vit_h", _BASE + "sam_vit_h_4b8939.pth",
                           "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e"),
    "vit_l": SamCheckpoint("sam_vit_l_0b3195.pth", "vit_l", _BASE + "sam_vit_l_0b3195.pth",
                           "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"),
    "vit_b": SamCheckpoint("sam_vit_b_01ec64.pth", "vit_b", _BASE + "sam_vit_b_01ec64.pth",
                           "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"),
}
SAM_BUILDERS = {"vit_h": sam_model_registry["vit_h"], "vit_l": sam_model_registry["vit_l"], "vit_b": sam_model_registry["vit_b"]}


def resolve_name(name: str, registry: dict[str, SamCheckpoint] = SAM_CHECKPOINTS) -> str:
    """Model type for ``name`` (``vit_b`` or a checkpoint file name such as ``sam_vit_b_01ec64.pth``)."""
    if name in registry:
        return name
    for key, ck in registry.items():
        if name == ck.filename:
            return key
    raise UserError(f"unknown SAM model {name!r}; choose one of {', '.join(registry)}")


def verify_checkpoint(path: Path, name: str, registry: dict[str, SamCheckpoint] = SAM_CHECKPOINTS) -> str:
    """Check the SHA-256 of ``path`` against the registry entry for model type ``name``; return the hash.

    Raises:
        UserError: the file is the official checkpoint of another model type, or its hash is unknown.
    """
    digest = sha256_file(require_file(path, "SAM checkpoint"))
    expected = registry[name].sha256
    if digest == expected:
        return digest
    for other, ck in registry.items():
        if ck.sha256 == digest:
            raise UserError(f"this is the official {other} checkpoint ({ck.filename}), not {name}; pass the matching model type", path)
    raise UserError(
        f"SHA-256 {digest[:12]}... does not match the official {registry[name].filename} ({expected[:12]}...); "
        "the file is corrupt or not an official checkpoint (pass --no-verify for a fine-tuned checkpoint)",
        path,
    )


def load_sam_weights(model: torch.nn.Module, path: Path, name: str) -> None:
    """Load a state dict from ``path`` (``weights_only=True``) into ``model``; a misfit is a UserError."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types; all mean "not a usable checkpoint"
        raise UserError(f"cannot read the SAM checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:120]})", path) from err
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise UserError("SAM checkpoint does not contain a state dict", path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise UserError(f"checkpoint does not fit a SAM {name} model (wrong model type?): {first[:160]}", path) from err


def build_sam(
    name: str,
    checkpoint: str | Path | None = None,
    verify: bool = True,
    registry: dict[str, SamCheckpoint] = SAM_CHECKPOINTS,
) -> Sam:
    """Build SAM ``vit_b``/``vit_l``/``vit_h`` (eval mode), optionally loading a verified checkpoint.

    Args:
        name: model type (or an official checkpoint file name).
        checkpoint: path of a ``.pth`` state dict; None = random weights (timing only).
        verify: check the SHA-256 against :data:`SAM_CHECKPOINTS` before loading (turn off only for
            fine-tuned checkpoints; the model type is still checked by the state dict's shapes).
    """
    key = resolve_name(name, registry)
    model = SAM_BUILDERS[key](checkpoint=None)
    if checkpoint is not None:
        path = require_file(checkpoint, "SAM checkpoint")
        if verify:
            verify_checkpoint(path, key, registry)
        load_sam_weights(model, path, key)
    return model.eval()


def build_tiny_sam(img_size: int = 64, embed_dim: int = 32, prompt_dim: int = 32, depth: int = 2, seed: int = 0) -> Sam:
    """A tiny randomly initialised SAM built from ``segment_anything.modeling`` (for tests and timing).

    Same architecture family as the real models (windowed + global ViT blocks with relative positions,
    prompt encoder, two-way transformer mask decoder), only much smaller: input ``img_size`` (multiple of 8),
    patch 8, ``embed_dim`` channels.
    """
    torch.manual_seed(seed)
    emb = img_size // 8
    model = Sam(
        image_encoder=ImageEncoderViT(
            img_size=img_size, patch_size=8, embed_dim=embed_dim, depth=depth, num_heads=2, mlp_ratio=2.0,
            out_chans=prompt_dim, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True, window_size=max(2, emb // 2), global_attn_indexes=(depth - 1,),
        ),
        prompt_encoder=PromptEncoder(embed_dim=prompt_dim, image_embedding_size=(emb, emb),
                                     input_image_size=(img_size, img_size), mask_in_chans=4),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=prompt_dim, mlp_dim=2 * prompt_dim, num_heads=2),
            transformer_dim=prompt_dim, iou_head_depth=2, iou_head_hidden_dim=prompt_dim,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return model.eval()


def download_sam(
    name: str,
    dest: str | Path,
    timeout: float = 30.0,
    overwrite: bool = False,
    registry: dict[str, SamCheckpoint] | None = None,
    url: str | None = None,
) -> Path:
    """Download the official checkpoint ``name`` into folder ``dest`` and verify its SHA-256.

    Writes atomically (a failed or refused download leaves nothing behind). A network that refuses or
    times out is a one-line :class:`UserError` telling the user to fetch the file elsewhere.
    """
    from vision.common.progress import track

    registry = SAM_CHECKPOINTS if registry is None else registry
    key = resolve_name(name, registry)
    ck = registry[key]
    target = Path(dest) / ck.filename
    src = url or ck.url
    try:
        with atomic_path(target, overwrite=overwrite) as tmp:
            try:
                resp = urllib.request.urlopen(src, timeout=timeout)  # noqa: S310 (official https URL or a user's)
            except (TimeoutError, urllib.error.URLError, OSError, ValueError) as err:
                reason = getattr(err, "reason", err)
                raise UserError(
                    f"cannot download {src} ({reason}); fetch {ck.filename} where the network allows and pass its path"
                ) from err
            total = int(resp.headers.get("Content-Length") or 0) if hasattr(resp, "headers") else 0
            chunk = 1 << 20
            with resp, open(tmp, "wb") as fh:
                blocks = iter(lambda: resp.read(chunk), b"")
                for block in track(blocks, f"downloading {ck.filename}", total=(total + chunk - 1) // chunk or None):
                    fh.write(block)
            verify_checkpoint(tmp, key, registry)
    except TimeoutError as err:
        raise UserError(f"download of {src} timed out after {timeout:.0f} s; fetch {ck.filename} elsewhere") from err
    except (OSError, http.client.HTTPException) as err:  # connection reset, truncated body, disk full ...
        raise UserError(f"download of {src} broke off ({type(err).__name__}: {err}); fetch {ck.filename} elsewhere") from err
    return target


# ------------------------------------------------------------------------------ mask generation
@dataclass(frozen=True)
class AmgPreset:
    """Settings of ``SamAutomaticMaskGenerator`` (names as in segment-anything) plus the intended model."""

    points_per_side: int
    points_per_batch: int
    pred_iou_thresh: float
    stability_score_thresh: float
    box_nms_thresh: float
    min_mask_region_area: int
    crop_n_layers: int = 0
    model: str = "vit_b"


AMG_PRESETS: dict[str, AmgPreset] = {
    # the CTL paper / CNOS-style setting
    "paper": AmgPreset(70, 64, 0.88, 0.85, 0.7, 500, model="vit_b"),
    # few prompts so that a CPU handles an image in seconds (the encoder dominates anyway)
    "cpu": AmgPreset(16, 64, 0.86, 0.85, 0.7, 200, model="vit_b"),
    # segment-anything's own defaults (tuned for vit_h)
    "sam-default": AmgPreset(32, 64, 0.88, 0.95, 0.7, 0, model="vit_h"),
}


def get_preset(preset: str | AmgPreset) -> AmgPreset:
    """A preset by name (see :data:`AMG_PRESETS`) or the given :class:`AmgPreset`."""
    if isinstance(preset, AmgPreset):
        return preset
    if preset not in AMG_PRESETS:
        raise UserError(f"unknown SAM preset {preset!r}; choose one of {', '.join(AMG_PRESETS)}")
    return AMG_PRESETS[preset]


class SamSegmenter:
    """Automatic mask generation (and batched point prompts) with a SAM model.

    Args:
        sam_model: a SAM (:func:`build_sam` or :func:`build_tiny_sam`), moved to ``device``.
        preset: name in :data:`AMG_PRESETS` or an :class:`AmgPreset`.
        device: torch device string.

    After each call, :attr:`last_timings_ms` holds ``sam_encoder`` and ``mask_generation`` milliseconds.
    """

    def __init__(self, sam_model: Sam, preset: str | AmgPreset = "cpu", device: str = "cpu") -> None:
        self.preset = get_preset(preset)
        self.model = sam_model.to(device).eval()
        kwargs = {k: v for k, v in asdict(self.preset).items() if k != "model"}
        self.generator = SamAutomaticMaskGenerator(self.model, **kwargs)
        self.predictor: SamPredictor = self.generator.predictor
        self.last_timings_ms: dict[str, float] = {}
        self._encoder_s = 0.0
        original = self.predictor.set_image

        def timed_set_image(*args: Any, **kw: Any) -> None:
            t0 = time.perf_counter()
            original(*args, **kw)
            self._encoder_s += time.perf_counter() - t0

        self.predictor.set_image = timed_set_image

    @torch.no_grad()
    def segment(self, rgb: np.ndarray, depth: np.ndarray | None = None) -> list[Proposal]:
        """Proposals for ``rgb`` (H, W, 3) uint8 RGB; ``depth`` is not used by SAM.

        Scores are SAM's predicted IoU. Masks are (H, W) bool at the input resolution.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        self._encoder_s = 0.0
        t0 = time.perf_counter()
        records = self.generator.generate(rgb)
        total = time.perf_counter() - t0
        self.last_timings_ms = {"sam_encoder": 1000 * self._encoder_s, "mask_generation": 1000 * (total - self._encoder_s)}
        out = []
        for r in records:
            m = np.asarray(r["segmentation"], dtype=bool)
            out.append(Proposal(mask=m, bbox=mask_bbox(m), score=float(r["predicted_iou"])))
        return out

    @torch.no_grad()
    def segment_points(
        self,
        rgb: np.ndarray,
        points: np.ndarray,
        labels: np.ndarray | None = None,
        batch_size: int | None = None,
    ) -> list[Proposal]:
        """One proposal per point prompt (targeted segmentation), prompts run in batches.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            points: (N, 2) float pixel coordinates (x, y).
            labels: (N,) 1 = foreground point (default), 0 = background.
            batch_size: prompts per decoder call (default: the preset's ``points_per_batch``).

        Returns:
            N proposals in point order: of SAM's three candidate masks, the one with the highest predicted IoU.
        """
        pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        lab = np.ones(len(pts), np.int64) if labels is None else np.asarray(labels, np.int64).reshape(-1)
        bs = batch_size or self.preset.points_per_batch
        self._encoder_s = 0.0
        t0 = time.perf_counter()
        self.predictor.set_image(rgb)
        enc = time.perf_counter() - t0
        device = self.predictor.device
        out: list[Proposal] = []
        for i in range(0, len(pts), bs):
            coords = self.predictor.transform.apply_coords(pts[i : i + bs], rgb.shape[:2])
            c = torch.as_tensor(coords, device=device)[:, None, :]
            lbl = torch.as_tensor(lab[i : i + bs], device=device)[:, None]
            masks, iou, _ = self.predictor.predict_torch(c, lbl, multimask_output=True)
            best = iou.argmax(dim=1)
            for j in range(len(best)):
                m = masks[j, best[j]].cpu().numpy().astype(bool)
                out.append(Proposal(mask=m, bbox=mask_bbox(m), score=float(iou[j, best[j]])))
        self.last_timings_ms = {"sam_encoder": 1000 * enc, "mask_generation": 1000 * (time.perf_counter() - t0 - enc)}
        return out
