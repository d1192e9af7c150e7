"""Lightning wrappers for CTL training: :class:`CTLModule` (around a plain :class:`Embedder` and a
:class:`CTLCriterion`) and :class:`ArmBenchDataModule`.

A training step embeds every image of P picks (their views and up to K references of each ground truth)
in one forward pass. Anchor = mean embedding of a pick's views, or -- with probability
``anchor_single_prob`` per step, as in the paper -- the PickRGB view alone; positive/negatives = centroids
of the batch products' reference embeddings (see :mod:`identification.ctl`). Validation and test run the
ArmBench evaluation (:func:`identification.evaluate.score_picks`) and log ``val/recall@1`` (by default on
training products held out of training, see :class:`ArmBenchDataModule`) or ``test/recall@k``.
Checkpoints carry ``embedder_config`` so that :func:`identification.model.load_embedder` rebuilds the
plain model from a ``.ckpt``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from identification.armbench import HELD_OUT, VAL_GALLERIES, ArmBenchSplit, hold_out_products, load_armbench
from identification.ctl import CTLCriterion
from identification.data import ImageListDataset, PickTrainDataset, collate_picks
from identification.evaluate import images_needed, score_picks
from identification.model import Embedder
from identification.sampler import DistinctLabelBatchSampler
from vision.common.errors import UserError

VAL_SPLITS = (HELD_OUT, "train", "test")


class CTLModule(pl.LightningModule):
    """Train an :class:`Embedder` with centroid triplet loss.

    Args:
        model: the plain embedder (its ``eval()`` forward is what gets exported).
        loss: the criterion (CTL margin/distance/negatives and optional extra-term weights).
        num_classes: training products, for the BNNeck classifier used by the cross-entropy term
            (linked from the data module by the CLI; ignored when ``loss.ce_weight == 0``).
        optimizer: ``"sgd"`` (paper) or ``"adamw"``.
        lr: learning rate (paper: 0.05 with SGD).
        momentum: SGD momentum (paper: 0).
        weight_decay: weight decay.
        scheduler: ``"none"`` or ``"cosine"`` (per epoch over ``trainer.max_epochs``).
        freeze: parameter-name prefixes kept frozen, e.g. ``["backbone.patch_embed"]`` (paper).
        anchor_single_prob: probability that a step uses PickRGB alone as the anchor.
        val_protocol: ``"pre-pick"`` or ``"post-pick"``.
        val_matching: ``"abs"`` or ``"centroid"``.
    """

    def __init__(
        self,
        model: Embedder,
        loss: CTLCriterion,
        num_classes: int = 0,
        optimizer: str = "sgd",
        lr: float = 0.05,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        scheduler: str = "none",
        freeze: list[str] | None = None,
        anchor_single_prob: float = 0.5,
        val_protocol: str = "post-pick",
        val_matching: str = "centroid",
    ) -> None:
        super().__init__()
        if optimizer not in ("sgd", "adamw") or scheduler not in ("none", "cosine"):
            raise UserError(f"optimizer must be sgd|adamw and scheduler none|cosine, got {optimizer}, {scheduler}")
        self.model = model
        self.loss = loss
        self.classifier = (
            nn.Linear(model.embed_dim, num_classes, bias=False) if loss.ce_weight > 0 and num_classes > 0 else None
        )
        self.num_classes = num_classes
        self.optimizer_name, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay
        self.scheduler_name = scheduler
        self.freeze_prefixes = list(freeze or [])  # not ``self.freeze``: that would hide LightningModule.freeze()
        self.anchor_single_prob = anchor_single_prob
        self.val_protocol, self.val_matching = val_protocol, val_matching
        frozen = [n for n, p in self.model.named_parameters() if any(n.startswith(f) for f in self.freeze_prefixes)]
        if self.freeze_prefixes and not frozen:
            raise UserError(f"freeze prefixes {self.freeze_prefixes} match no parameter of {model.backbone_name}")
        for name, param in self.model.named_parameters():
            if name in frozen:
                param.requires_grad_(False)
        self._eval_rows: list[tuple[np.ndarray, np.ndarray]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float32 in [0, 1] -> (B, D) unit embeddings."""
        return self.model(x)

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        feats, neck = self.model.features(batch["images"])
        emb = F.normalize(feats, dim=1)  # triplet terms before the BNNeck, classifier after (bag-of-tricks recipe)
        views = ~batch["is_ref"]
        owner, n_picks = batch["owner"], len(batch["pick_labels"])
        single = bool(torch.rand(()) < self.anchor_single_prob)
        use = views & batch["is_pick_view"] if single else views
        if single and not bool(use.any()):
            use = views
        sums = torch.zeros(n_picks, emb.shape[1], device=emb.device).index_add(0, owner[use], emb[use])
        counts = torch.bincount(owner[use], minlength=n_picks)
        has = counts > 0
        anchors = sums[has] / counts[has].unsqueeze(1).to(emb.dtype)
        logits = self.classifier(neck) if self.classifier is not None else None
        terms = self.loss(
            anchors, batch["pick_labels"][has], emb[batch["is_ref"]], batch["labels"][batch["is_ref"]],
            instance_embeddings=emb, instance_labels=batch["labels"], logits=logits, logit_labels=batch["labels"],
        )
        bs = n_picks
        self.log("train/loss", terms.total, prog_bar=True, batch_size=bs)
        self.log_dict({"train/ctl": terms.ctl, "train/instance": terms.instance, "train/ce": terms.ce}, batch_size=bs)
        self.log("train/unreadable_images", batch["unreadable"].float(), reduce_fx="sum", batch_size=bs)
        return terms.total

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        if self.optimizer_name == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        else:
            opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.scheduler_name == "cosine":
            epochs = max(1, int(self.trainer.max_epochs or 1))
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)}
        return opt

    # ------------------------------------------------------------------ evaluation
    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        images, ok, index = batch
        emb = self.model(images).float().cpu().numpy()
        self._eval_rows.append((index.cpu().numpy()[ok.cpu().numpy()], emb[ok.cpu().numpy()]))

    def _eval_end(self, prefix: str, data: ArmBenchSplit, paths: list[Path]) -> dict[str, Any]:
        embeddings: dict[Path, np.ndarray] = {}
        for idx, emb in self._eval_rows:
            for i, e in zip(idx.tolist(), emb, strict=True):
                embeddings[paths[i]] = e
        self._eval_rows = []
        unreadable = len(paths) - len(embeddings)
        report = score_picks(data, self.val_protocol, self.val_matching, embeddings, unreadable)
        for key in ("recall@1", "recall@2", "recall@3"):
            self.log(f"{prefix}/{key}", float(report[key]), prog_bar=key == "recall@1")
        self.log(f"{prefix}/images_skipped", float(unreadable))
        return report

    def on_validation_epoch_start(self) -> None:
        self._eval_rows = []

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        dm = cast(Any, self.trainer).datamodule
        if self.trainer.sanity_checking:
            self._eval_rows = []
            return
        dm.last_val_report = self._eval_end("val", dm.val_data, dm.eval_paths(dm.val_data, self.val_protocol))

    def on_test_epoch_start(self) -> None:
        self._eval_rows = []

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        dm = cast(Any, self.trainer).datamodule
        dm.last_test_report = self._eval_end("test", dm.test_data, dm.eval_paths(dm.test_data, self.val_protocol))

    def on_train_epoch_start(self) -> None:
        self.model.train()  # evaluation (or an ImageEmbedder built before fit) leaves it in eval mode

    def setup(self, stage: str) -> None:
        """Give the data module the model's input size (or check the one it was configured with)."""
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None or not hasattr(dm, "image_size"):
            return
        h, w = self.model.input_size
        if h != w:
            raise UserError(f"the data module feeds square images; model input size is {self.model.input_size}")
        if dm.image_size is None:
            dm.image_size = h
        elif dm.image_size != h:
            raise UserError(f"data.image_size={dm.image_size} differs from the model input size {h}")

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse (one line) a checkpoint of another backbone instead of a long state-dict mismatch."""
        saved = (checkpoint.get("embedder_config") or {}).get("backbone")
        if saved is not None and saved != self.model.backbone_name:
            raise UserError(f"checkpoint holds backbone {saved!r}, the config builds {self.model.backbone_name!r}")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["embedder_config"] = dict(self.model.config)


class ArmBenchDataModule(pl.LightningDataModule):
    """ArmBench train split for fitting, a validation split for model selection, the test split for testing.

    By default (``val_split="held-out"``) a share ``val_fraction`` of the training products, with all their
    picks, is held out of training by :func:`identification.armbench.hold_out_products` (deterministic for
    ``val_seed``), so ``val/recall@1`` -- which checkpoints select on -- measures identification of unseen
    products as the test protocol does, without looking at the test split. ``"train"`` validates on the
    (seen) training picks and trains on all of them; ``"test"`` validates on the test split and trains on
    all training picks -- a warning says that test numbers are then optimistic.

    Args:
        root: dataset folder (``armbench-object-id-0.1`` layout).
        image_size: side of the square model input; None (default) takes the embedder's input size.
        batch_picks: P, picks per training batch.
        refs_per_product: K, reference images per pick.
        augment: ``"trivial"`` (TrivialAugmentWide) or ``"none"``.
        val_split: ``"held-out"`` (default), ``"train"`` or ``"test"``.
        val_fraction: with ``"held-out"``: share of the training products held out, in (0, 1).
        val_gallery: with ``"held-out"``: ``"all"`` (gallery = tote products of the whole training object
            list) or ``"held-out"`` (only held-out products); see ``hold_out_products``.
        val_seed: with ``"held-out"``: selects the held-out products (independent of ``seed``).
        eval_batch_size: images per evaluation batch.
        num_workers: DataLoader workers.
        seed: sampling seed.
    """

    def __init__(
        self,
        root: str,
        image_size: int | None = None,
        batch_picks: int = 16,
        refs_per_product: int = 4,
        augment: str = "trivial",
        val_split: str = "held-out",
        val_fraction: float = 0.2,
        val_gallery: str = "all",
        val_seed: int = 0,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if augment not in ("trivial", "none"):
            raise UserError(f"augment must be 'trivial' or 'none', got {augment!r}")
        if batch_picks < 2 or refs_per_product < 1 or eval_batch_size < 1 or num_workers < 0:
            raise UserError(
                "data.batch_picks must be >= 2 (CTL needs a negative product), data.refs_per_product and "
                f"data.eval_batch_size >= 1, data.num_workers >= 0; got {batch_picks}, {refs_per_product}, "
                f"{eval_batch_size}, {num_workers}"
            )
        if image_size is not None and image_size < 1:
            raise UserError(f"data.image_size must be >= 1, got {image_size}")
        if val_split not in VAL_SPLITS:
            raise UserError(f"val_split must be one of {', '.join(VAL_SPLITS)}, got {val_split!r}")
        if val_split == HELD_OUT and not 0.0 < val_fraction < 1.0:
            raise UserError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if val_gallery not in VAL_GALLERIES:
            raise UserError(f"val_gallery must be 'all' or 'held-out', got {val_gallery!r}")
        if val_split == "test":
            warnings.warn(
                "data.val_split='test': validation (and checkpoint selection on val/recall@1) uses the test "
                "split, so test recall will be optimistic; the default 'held-out' validates on training "
                "products held out of training",
                UserWarning,
                stacklevel=2,
            )
        self.root = Path(root)
        self.image_size = image_size
        self.batch_picks, self.refs_per_product = batch_picks, refs_per_product
        self.augment, self.val_split = augment, val_split
        self.val_fraction, self.val_gallery, self.val_seed = val_fraction, val_gallery, val_seed
        self.eval_batch_size, self.num_workers, self.seed = eval_batch_size, num_workers, seed
        self.train_data: ArmBenchSplit | None = None
        self._val_data: ArmBenchSplit | None = None
        self._test_data: ArmBenchSplit | None = None
        self._paths: dict[tuple[int, str], list[Path]] = {}
        self.last_val_report: dict[str, Any] | None = None
        self.last_test_report: dict[str, Any] | None = None

    def _load_train(self) -> ArmBenchSplit:
        """The training picks (without held-out products); also sets the held-out validation split."""
        if self.train_data is None:
            full = load_armbench(self.root, "train")
            if self.val_split == HELD_OUT:
                self.train_data, self._val_data = hold_out_products(
                    full, self.val_fraction, self.val_seed, self.val_gallery)
            else:
                self.train_data = full
                if self.val_split == "train":
                    self._val_data = full
        return self.train_data

    @property
    def num_classes(self) -> int:
        """Training products that occur as a pick's ground truth (held-out products excluded)."""
        return len({p.gt for p in self._load_train().picks})

    @property
    def val_data(self) -> ArmBenchSplit:
        if self._val_data is None:
            if self.val_split == "test":
                self._val_data = self.test_data
            else:
                self._load_train()
        assert self._val_data is not None
        return self._val_data

    @property
    def test_data(self) -> ArmBenchSplit:
        if self._test_data is None:
            self._test_data = load_armbench(self.root, "test")
        return self._test_data

    def eval_paths(self, data: ArmBenchSplit, protocol: str) -> list[Path]:
        key = (id(data), protocol)
        if key not in self._paths:
            self._paths[key] = images_needed(data, protocol)
        return self._paths[key]

    def train_dataloader(self) -> DataLoader:
        train = self._load_train()
        augment = None
        if self.augment == "trivial":
            from torchvision.transforms import TrivialAugmentWide

            augment = TrivialAugmentWide()
        ds = PickTrainDataset(train, cast(int, self.image_size), self.refs_per_product, augment, self.seed)
        sampler = DistinctLabelBatchSampler(ds.labels, self.batch_picks, seed=self.seed)
        return DataLoader(ds, batch_sampler=sampler, collate_fn=collate_picks, num_workers=self.num_workers)

    def _eval_loader(self, data: ArmBenchSplit) -> DataLoader:
        protocol = getattr(self.trainer.lightning_module, "val_protocol", "post-pick") if self.trainer else "post-pick"
        ds = ImageListDataset(self.eval_paths(data, protocol), cast(int, self.image_size))
        return DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_data)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_data)
