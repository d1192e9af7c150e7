import json
import warnings
from pathlib import Path

import pytest
import torch

from identification.armbench import load_armbench
from identification.embed import ImageEmbedder
from identification.evaluate import evaluate_armbench
from identification.model import build_embedder, load_embedder, save_embedder
from vision.common.errors import UserError

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "identification").glob("*.yaml"))


def _fit(root: Path, tmp_path: Path):
    import pytorch_lightning as pl

    from identification.ctl import CTLCriterion
    from identification.lit import ArmBenchDataModule, CTLModule

    torch.manual_seed(0)
    model = build_embedder("test_vit", embed_dim=16, neck="bnneck", img_size=32)
    dm = ArmBenchDataModule(str(root), batch_picks=4, refs_per_product=2, augment="trivial", eval_batch_size=16)
    module = CTLModule(model, CTLCriterion(negatives="hardest", instance_weight=1.0, ce_weight=0.5),
                       num_classes=dm.num_classes, optimizer="adamw", lr=1e-3, scheduler="cosine",
                       freeze=["backbone.patch_embed"])
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=2, accelerator="cpu", logger=False, default_root_dir=tmp_path,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, dm)
    return module, dm, trainer


def test_fit_checkpoint_roundtrip_and_val_recall(armbench_root, tmp_path) -> None:
    frozen_before = build_embedder("test_vit", embed_dim=16, img_size=32)  # reference for shapes only
    module, dm, trainer = _fit(armbench_root, tmp_path)
    assert dm.image_size == 32
    assert not module.model.backbone.patch_embed.proj.weight.requires_grad
    n_train_products = len({p.gt for p in load_armbench(armbench_root, "train").picks})
    assert module.classifier is not None and module.classifier.out_features == dm.num_classes < n_train_products
    report = dm.last_val_report  # default validation: training products held out of training
    assert report is not None and 0.0 <= report["recall@1"] <= 1.0
    assert report["split"] == "held-out" and report["picks_evaluated"] == len(dm.val_data.picks) > 0
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = load_embedder(ckpt)  # Lightning checkpoint, weights_only
    x = torch.rand(3, 3, 32, 32)
    module.model.eval()
    torch.testing.assert_close(loaded(x), module.model(x))
    again = evaluate_armbench(dm.val_data, ImageEmbedder(loaded), "post-pick", "centroid", progress=False)
    assert again["recall@1"] == pytest.approx(report["recall@1"])
    save_embedder(loaded, tmp_path / "e.pt")
    torch.testing.assert_close(load_embedder(tmp_path / "e.pt")(x), loaded(x))
    with pytest.raises(UserError, match="backbone"):
        load_embedder(tmp_path / "e.pt", backbone="resnet18")
    assert frozen_before.embed_dim == 16
    from identification.ctl import CTLCriterion
    from identification.lit import CTLModule

    other = CTLModule(build_embedder("resnet18", embed_dim=16, img_size=32), CTLCriterion())
    with pytest.raises(UserError, match="backbone"):
        other.on_load_checkpoint(torch.load(ckpt, weights_only=True))


def test_datamodule_validation_splits(armbench_root) -> None:
    from identification.lit import ArmBenchDataModule

    train = load_armbench(armbench_root, "train")
    everything = {p.gt for p in train.picks}
    dm = ArmBenchDataModule(str(armbench_root), image_size=32, val_fraction=0.3, val_seed=1)
    held = {p.gt for p in dm.val_data.picks}
    trained = set(dm.train_dataloader().dataset.classes)
    assert held and not held & trained and held | trained == everything and dm.num_classes == len(trained)
    same = ArmBenchDataModule(str(armbench_root), val_fraction=0.3, val_seed=1, seed=7)  # training seed apart
    assert {p.gt for p in same.val_data.picks} == held
    seen = ArmBenchDataModule(str(armbench_root), val_split="train")
    assert seen.num_classes == len(everything) and seen.val_data.split == "train"
    with pytest.warns(UserWarning, match="optimistic"):
        on_test = ArmBenchDataModule(str(armbench_root), val_split="test")
    assert on_test.val_data.split == "test" and on_test.num_classes == len(everything)
    for bad in ({"val_split": "val"}, {"val_fraction": 1.0}, {"val_gallery": "none"}):
        with pytest.raises(UserError):
            ArmBenchDataModule(str(armbench_root), **bad)
    # batch_picks 0 ended in a ZeroDivisionError traceback inside the sampler; 1 trains on an always-zero loss
    for bad in ({"batch_picks": 0}, {"batch_picks": 1}, {"refs_per_product": 0}, {"eval_batch_size": 0},
                {"num_workers": -1}, {"image_size": 0}):
        with pytest.raises(UserError, match="data\\."):
            ArmBenchDataModule(str(armbench_root), **bad)


def test_bad_checkpoints(tmp_path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        load_embedder(tmp_path / "junk.pt")
    (tmp_path / "junk2.pt").write_bytes(b"garbage\n")  # torch's message for this one recommends weights_only=False
    with pytest.raises(UserError, match="cannot read checkpoint safely: not a PyTorch checkpoint") as info:
        load_embedder(tmp_path / "junk2.pt")
    assert "weights_only" not in str(info.value) and "False" not in str(info.value)
    torch.save({"format": "edgevision-embedder", "config": {"backbone": "test_vit", "img_size": 32},
                "state_dict": {"x": torch.zeros(1)}}, tmp_path / "wrong.pt")
    with pytest.raises(UserError, match="do not match"):
        load_embedder(tmp_path / "wrong.pt")
    with pytest.raises(UserError, match="does not exist"):
        load_embedder(tmp_path / "missing.pt")


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_every_config_instantiates(config, armbench_root, tmp_path) -> None:
    from identification.lightning_cli import run_lightning_cli

    args = ["--config", str(config), "--data.root", str(armbench_root), "--model.model.init_args.pretrained", "false",
            "--trainer.default_root_dir", str(tmp_path), "--trainer.accelerator", "cpu", "--trainer.precision", "32"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = run_lightning_cli(args, run=False)
    assert cli.model.model.embed_dim > 0
    assert cli.model.num_classes == cli.datamodule.num_classes > 0
    assert cli.trainer.max_epochs >= 1
    assert cli.datamodule.val_split == "held-out" and cli.datamodule.val_data.picks  # never the test split
    with pytest.raises(UserError):
        run_lightning_cli([*args, "--model.no_such_key", "1"], run=False)


def test_cli_eval_and_gallery(armbench_root, tmp_path, capsys) -> None:
    from demos.cli import main

    model = build_embedder("test_vit", embed_dim=8, img_size=32)
    save_embedder(model, tmp_path / "e.pt")
    out = tmp_path / "report.json"
    base = ["identify", "eval", "--data", str(armbench_root), "--protocol", "pre-pick", "--matching", "abs",
            "--checkpoint", str(tmp_path / "e.pt"), "--out", str(out)]
    assert main(base) == 0
    report = json.loads(out.read_text())
    for key in ("protocol", "matching", "recall@1", "recall@2", "recall@3", "picks_evaluated", "picks_skipped",
                "images_skipped"):
        assert key in report
    assert report["protocol"] == "pre-pick" and report["model"]["backbone"] == "test_vit"
    assert main(base) == 2  # refuses to overwrite
    assert "overwrite" in capsys.readouterr().err
    assert main(["identify", "eval", "--data", str(armbench_root), "--backbone", "test_vit", "--no-pretrained",
                 "--img-size", "32", "--out", str(tmp_path / "r2.json")]) == 0
    assert main([*base[:-2], "--out", str(tmp_path / "r4.json"), "--backbone", "resnet18"]) == 2  # mismatch
    assert "resnet18" in capsys.readouterr().err
    assert main(["identify", "eval", "--data", str(armbench_root), "--out", str(tmp_path / "r5.json")]) == 2
    assert main(["identify", "eval", "--data", str(tmp_path / "nope"), "--backbone", "test_vit", "--no-pretrained",
                 "--out", str(tmp_path / "r3.json")]) == 2

    gal = tmp_path / "gal"
    pid = load_armbench(armbench_root, "test").objects[0]
    refs = armbench_root / "Reference_Images" / pid
    ck = ["--checkpoint", str(tmp_path / "e.pt")]
    if refs.is_dir():
        assert main(["identify", "gallery", "add", "--gallery", str(gal), "--product", pid, str(refs), *ck]) == 0
    some = next((armbench_root / "Reference_Images").glob("*/1.jpg"))
    assert main(["identify", "gallery", "add", "--gallery", str(gal), "--product", "X1", str(some), *ck]) == 0
    assert main(["identify", "gallery", "list", "--gallery", str(gal)]) == 0
    assert "X1" in capsys.readouterr().out
    assert main(["identify", "gallery", "remove", "--gallery", str(gal), "--product", "X1"]) == 0
    assert main(["identify", "gallery", "remove", "--gallery", str(gal), "--product", "X1"]) == 2
    other = build_embedder("test_vit", embed_dim=8, img_size=32)
    save_embedder(other, tmp_path / "other.pt")
    assert main(["identify", "gallery", "add", "--gallery", str(gal), "--product", "X2", str(some),
                 "--checkpoint", str(tmp_path / "other.pt")]) == 2  # another embedder's gallery
    for bad_id in ("", " X3"):  # an empty id was added as product ''
        capsys.readouterr()
        assert main(["identify", "gallery", "add", "--gallery", str(gal), "--product", bad_id, str(some), *ck]) == 2
        assert "--product must be a non-empty id" in capsys.readouterr().err


def test_lightning_cli_debug_anywhere(armbench_root, tmp_path, capsys) -> None:
    from demos.cli import main

    args = ["identify", "fit", "--config", str(CONFIGS[0]), "--data.root", str(armbench_root),
            "--trainer.default_root_dir", str(tmp_path), "--model.no_such_key", "1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 2
        assert "Traceback" not in capsys.readouterr().err
        assert main([*args[:3], "--debug", *args[3:]]) == 2  # --debug after the subcommand
        err = capsys.readouterr().err
        assert "Traceback" in err and "error: invalid training arguments" in err
        assert main([*args, "--debug"]) == 2
        assert "Traceback" in capsys.readouterr().err


def test_freeze_prefixes_do_not_hide_lightning_freeze() -> None:
    # the prefixes were stored as ``self.freeze``, which replaced LightningModule.freeze() by a list
    from identification.ctl import CTLCriterion
    from identification.lit import CTLModule

    m = CTLModule(build_embedder("test_vit", embed_dim=16, img_size=32), CTLCriterion(), freeze=["backbone.patch_embed"])
    assert not m.model.backbone.patch_embed.proj.weight.requires_grad and m.model.projection.weight.requires_grad
    m.freeze()
    assert not any(p.requires_grad for p in m.parameters()) and not m.training


def test_triplet_terms_see_features_before_the_bnneck(armbench_root) -> None:
    # The Embedder's contract (bag-of-tricks): triplet terms before the BNNeck, classifier (and retrieval)
    # after it. The training step used the post-BNNeck features for the triplet terms too.
    import torch.nn.functional as F

    from identification.ctl import CTLCriterion
    from identification.lit import ArmBenchDataModule, CTLModule

    torch.manual_seed(0)
    dm = ArmBenchDataModule(str(armbench_root), image_size=32, batch_picks=4, refs_per_product=2, augment="none")
    module = CTLModule(build_embedder("test_vit", embed_dim=16, neck="bnneck", img_size=32),
                       CTLCriterion(ce_weight=1.0), num_classes=dm.num_classes, anchor_single_prob=0.0)
    seen = {}

    def spy(anchors, anchor_labels, references, reference_labels, **kw):
        seen.update(references=references.detach(), instance=kw["instance_embeddings"].detach(), logits=kw["logits"].detach())
        return CTLCriterion.forward(module.loss, anchors, anchor_labels, references, reference_labels, **kw)

    module.loss.forward = spy
    batch = next(iter(dm.train_dataloader()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module.training_step(batch, 0)
    with torch.no_grad():
        feats, neck = module.model.features(batch["images"])
    torch.testing.assert_close(seen["instance"], F.normalize(feats, dim=1))
    torch.testing.assert_close(seen["references"], F.normalize(feats, dim=1)[batch["is_ref"]])
    torch.testing.assert_close(seen["logits"], module.classifier(neck))
