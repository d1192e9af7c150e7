"""Quickstart step of the identification area: generate data, evaluate, train briefly, evaluate again.

On a generated ArmBench-format fixture (test products never seen in training) the step measures
post-pick centroid Recall@1 on the test split of a tiny randomly initialised timm ViT, trains it for a few
epochs with CTL plus a label-smoothed cross-entropy on the BNNeck (CPU, seconds) on 80% of the training
products, validates once on the other 20% (held out of training: the split model selection would use),
and evaluates the trained model once on the test split. It publishes the
dataset root (``armbench_root``) and the trained embedder (``embedder_checkpoint``, readable by
:func:`identification.model.load_embedder`) for later steps.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from demos.quickstart import StepResult

BACKBONE = "test_vit"
IMAGE_SIZE = 48
EPOCHS = 12
N_PRODUCTS = 60
N_PICKS = 240
VAL_FRACTION = 0.2


def step(workdir: Path, seed: int, context: dict[str, Path]) -> StepResult:
    """Run the identification quickstart under ``workdir`` (created); see the module docstring."""
    import pytorch_lightning as pl
    import torch

    from identification.armbench import load_armbench
    from identification.ctl import CTLCriterion
    from identification.embed import ImageEmbedder
    from identification.evaluate import evaluate_armbench
    from identification.fixture import generate_armbench
    from identification.lit import ArmBenchDataModule, CTLModule
    from identification.model import build_embedder, save_embedder
    from vision.common.atomic import write_json_atomic
    from vision.common.runinfo import seed_everything

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "armbench-object-id-0.1"
    summary = generate_armbench(root, n_products=N_PRODUCTS, n_picks=N_PICKS, seed=seed, image_size=IMAGE_SIZE)
    seed_everything(seed)
    model = build_embedder(BACKBONE, embed_dim=64, neck="bnneck", img_size=IMAGE_SIZE)
    test = load_armbench(root, "test")
    before = evaluate_armbench(test, ImageEmbedder(model, batch_size=64), "post-pick", "centroid", progress=False)

    dm = ArmBenchDataModule(str(root), batch_picks=16, refs_per_product=4, augment="none", seed=seed,
                            val_split="held-out", val_fraction=VAL_FRACTION, val_seed=seed)
    loss = CTLCriterion(margin=0.1, distance="euclidean", negatives="random", ce_weight=1.0, label_smoothing=0.1)
    module = CTLModule(model, loss, num_classes=dm.num_classes, optimizer="adamw", lr=1e-3, weight_decay=1e-4,
                       scheduler="cosine")
    trainer = pl.Trainer(
        max_epochs=EPOCHS, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, check_val_every_n_epoch=EPOCHS, num_sanity_val_steps=0,
        default_root_dir=workdir, deterministic=False,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, dm)
    train_s = time.perf_counter() - start
    torch.set_grad_enabled(True)
    after = evaluate_armbench(test, ImageEmbedder(model.eval(), batch_size=64), "post-pick", "centroid", progress=False)
    ckpt = save_embedder(model, workdir / "embedder.pt")
    val = dm.last_val_report or {}
    report = {"dataset": summary, "backbone": BACKBONE, "epochs": EPOCHS, "train_seconds": round(train_s, 1),
              "train_products": dm.num_classes, "validation": val, "before": before, "after": after}
    write_json_atomic(workdir / "report.json", report)
    return StepResult(
        name="identification",
        figures={"recall@1_untrained": round(before["recall@1"], 3), "recall@1_trained": round(after["recall@1"], 3),
                 "test_picks": after["picks_evaluated"], "val_recall@1_held_out": round(val.get("recall@1", 0.0), 3),
                 "val_picks": val.get("picks_evaluated", 0), "train_s": round(train_s, 1)},
        outputs=[workdir / "report.json", ckpt],
        artifacts={"armbench_root": root, "embedder_checkpoint": ckpt},
    )
