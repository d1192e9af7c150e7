"""``edgevision identify ...``: train (LightningCLI), evaluate on ArmBench, manage a product gallery.

Module level imports only argparse/stdlib; torch, timm and Lightning are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

TRAIN_HELP = """\
Runs LightningCLI on CTLModule + ArmBenchDataModule. Everything after the subcommand is passed to
LightningCLI, e.g.:
  edgevision identify fit --config configs/identification/cpu.yaml --data.root DATA --trainer.max_epochs 5
  edgevision identify test --config configs/identification/cpu.yaml --ckpt_path RUN/checkpoints/last.ckpt
Use `edgevision identify fit --help` for LightningCLI's own option list (--print_config shows the
resolved config). Checkpoints (.ckpt) can be read by `identify eval --checkpoint` and load_embedder().
Validation (val/recall@1, which the configs' best checkpoint is chosen on) runs by default on training
products held out of training (--data.val_split held-out, --data.val_fraction 0.2); `test` runs the test
split. --debug (traceback on errors) and --verbose are accepted anywhere on the line.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``identify`` and its subcommands to the ``edgevision`` parser."""
    p = sub.add_parser(
        "identify",
        parents=[common],
        help="object identification: train CTL embeddings, evaluate on ArmBench, manage a gallery",
        description="Object identification with centroid-triplet-loss embeddings (CTL): training through "
        "LightningCLI, ArmBench evaluation (pre-pick/post-pick, abs/centroid, Recall@1/2/3) and a "
        "product gallery that grows without retraining.",
    )
    isub = p.add_subparsers(dest="identify_command", metavar="SUBCOMMAND", title="subcommands")
    isub.required = True
    for name, what in (("fit", "train"), ("validate", "run validation (recall@k)"), ("test", "run the test split")):
        # Every token after the subcommand belongs to LightningCLI (including --help), so this parser
        # recognises no options of its own ("+" prefix); _cmd_lightning takes --debug/--verbose out.
        t = isub.add_parser(
            name, add_help=False, prefix_chars="+", help=f"{what} with LightningCLI (--config YAML)",
            description=f"{what.capitalize()} an embedder with LightningCLI.\n\n{TRAIN_HELP}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        t.add_argument("lightning_args", nargs="*", help="arguments for LightningCLI")
        t.set_defaults(func=_cmd_lightning, lightning_subcommand=name)

    e = isub.add_parser(
        "eval", parents=[common], help="evaluate an embedder on an ArmBench split, write report.json",
        description="Evaluate an embedder on ArmBench object identification exactly as published: the "
        "gallery of a pick is the products of its container.json that belong to the split's object list "
        "and have at least one reference image; a pick whose ground truth is not there is a miss. Writes "
        "recall@1/2/3, picks evaluated/skipped and images skipped to --out.",
    )
    e.add_argument("--data", required=True, type=Path, help="dataset root (armbench-object-id-0.1 layout)")
    e.add_argument("--split", default="test", choices=("train", "test"), help="split to evaluate (default test)")
    e.add_argument("--protocol", default="post-pick", choices=("pre-pick", "post-pick"),
                   help="pre-pick: PickRGB only; post-pick: every pick image present")
    e.add_argument("--matching", default="centroid", choices=("abs", "centroid"),
                   help="abs: nearest single reference image; centroid: mean query vs mean references")
    _add_model_options(e)
    e.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    e.add_argument("--out", required=True, type=Path, help="report JSON to write")
    e.add_argument("--overwrite", action="store_true", help="replace an existing report")
    e.set_defaults(func=_cmd_eval)

    f = isub.add_parser(
        "fixture", parents=[common], help="generate a small ArmBench-format dataset of synthetic products",
        description="Write a dataset in the exact armbench-object-id-0.1 layout (Picks/, Reference_Images/, "
        "train-test-split.pickle) with procedurally generated products; test products never appear in "
        "training. Useful to try training and evaluation without the real dataset.",
    )
    f.add_argument("--out", required=True, type=Path, help="dataset folder to create")
    f.add_argument("--products", type=int, default=60, help="number of products (default 60)")
    f.add_argument("--picks", type=int, default=240, help="number of picks (default 240)")
    f.add_argument("--image-size", type=int, default=48, help="image side in pixels (default 48)")
    f.add_argument("--seed", type=int, default=0, help="random seed")
    f.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    f.set_defaults(func=_cmd_fixture)

    g = isub.add_parser(
        "gallery", parents=[common], help="add, list or remove products of a gallery folder",
        description="Manage a product gallery (embeddings in safetensors + a JSON index): add products from "
        "reference images with a trained embedder, list them, remove them. No retraining needed.",
    )
    gsub = g.add_subparsers(dest="gallery_command", metavar="ACTION", title="actions")
    gsub.required = True
    ga = gsub.add_parser(
        "add", parents=[common], help="embed reference images of a product and add them",
        description="Embed the reference images of one product (files or folders of .jpg/.png) and add "
        "them to the gallery folder (created if absent). The gallery records the embedder's backbone and "
        "checkpoint hash and refuses a different embedder.",
    )
    ga.add_argument("--gallery", required=True, type=Path, help="gallery folder")
    ga.add_argument("--product", required=True, help="product id")
    ga.add_argument("images", nargs="+", type=Path, help="image files or folders")
    _add_model_options(ga)
    ga.set_defaults(func=_cmd_gallery_add)
    gl = gsub.add_parser("list", parents=[common], help="list the products of a gallery",
                         description="Print the product ids of a gallery folder with their number of views.")
    gl.add_argument("--gallery", required=True, type=Path, help="gallery folder")
    gl.set_defaults(func=_cmd_gallery_list)
    gr = gsub.add_parser("remove", parents=[common], help="remove a product from a gallery",
                         description="Remove one product (all its reference embeddings) from a gallery folder.")
    gr.add_argument("--gallery", required=True, type=Path, help="gallery folder")
    gr.add_argument("--product", required=True, help="product id")
    gr.set_defaults(func=_cmd_gallery_remove)


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="embedder checkpoint (.pt from edgevision or Lightning .ckpt)")
    p.add_argument("--backbone", help="timm backbone name, e.g. vit_base_patch16_384; with --checkpoint: the "
                   "backbone the checkpoint must hold")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--no-pretrained", action="store_true", help="with --backbone: random initialisation")
    w.add_argument("--pretrained-path", type=Path, help="with --backbone: local weights file (SHA-256 printed)")
    p.add_argument("--img-size", type=int, default=None, help="with --backbone: input side (default: the model's)")
    p.add_argument("--embed-dim", type=int, default=None, help="with --backbone: projection size (default: none)")


def _load_model(args: argparse.Namespace):
    from identification.model import build_embedder, load_embedder
    from vision.common.errors import UserError

    if args.checkpoint is None and args.backbone is None:
        raise UserError("give --checkpoint CKPT or --backbone NAME")
    if args.checkpoint is not None:
        if args.no_pretrained or args.pretrained_path or args.img_size or args.embed_dim:
            raise UserError("--no-pretrained/--pretrained-path/--img-size/--embed-dim do not apply with --checkpoint")
        return load_embedder(args.checkpoint, backbone=args.backbone)
    pretrained: bool | str = str(args.pretrained_path) if args.pretrained_path else not args.no_pretrained
    return build_embedder(args.backbone, embed_dim=args.embed_dim, pretrained=pretrained, img_size=args.img_size).eval()


def _describe(model, args: argparse.Namespace) -> dict:
    from vision.common.runinfo import sha256_file

    desc = {"backbone": model.backbone_name, "input_size": list(model.input_size), "embed_dim": model.embed_dim,
            "config": dict(model.config)}
    if getattr(args, "checkpoint", None) is not None:
        desc["checkpoint"] = str(args.checkpoint)
        desc["checkpoint_sha256"] = sha256_file(args.checkpoint)
    return desc


def _cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from identification.armbench import load_armbench
    from identification.embed import ImageEmbedder
    from identification.evaluate import evaluate_armbench
    from vision.common.atomic import check_can_write, write_json_atomic
    from vision.common.progress import print_table
    from vision.common.runinfo import machine_info

    check_can_write(args.out, args.overwrite)
    data = load_armbench(args.data, args.split)
    model = _load_model(args)
    torch.set_grad_enabled(False)
    report = evaluate_armbench(data, ImageEmbedder(model, batch_size=args.batch_size), args.protocol, args.matching)
    report["model"] = _describe(model, args)
    report["data"] = str(args.data)
    report["machine"] = machine_info()
    write_json_atomic(args.out, report, overwrite=args.overwrite)
    print_table(
        f"ArmBench {args.split} ({args.protocol}, {args.matching})",
        ["recall@1", "recall@2", "recall@3", "picks", "skipped picks", "skipped images"],
        [[report["recall@1"], report["recall@2"], report["recall@3"], report["picks_evaluated"],
          report["picks_skipped"], report["images_skipped"]]],
    )
    print(f"report: {args.out}")
    return 0


def _cmd_fixture(args: argparse.Namespace) -> int:
    import json

    from identification.fixture import generate_armbench
    from vision.common.atomic import atomic_dir
    from vision.common.errors import UserError

    if args.products < 4 or args.picks < 2 or args.image_size < 16:
        raise UserError("need --products >= 4, --picks >= 2 and --image-size >= 16")
    with atomic_dir(args.out, args.overwrite) as tmp:
        summary = generate_armbench(tmp, args.products, args.picks, args.seed, image_size=args.image_size)
    summary["root"] = str(args.out)
    print(json.dumps(summary, indent=1))
    return 0


def _image_files(paths: list[Path]) -> list[Path]:
    from vision.common.errors import UserError

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png"))
        elif p.is_file():
            out.append(p)
        else:
            raise UserError("image or folder does not exist", p)
    if not out:
        raise UserError(f"no images found in {', '.join(str(p) for p in paths)}")
    return out


def _cmd_gallery_add(args: argparse.Namespace) -> int:
    from identification.embed import ImageEmbedder
    from identification.gallery import Gallery
    from vision.common.errors import UserError

    if not args.product.strip() or args.product != args.product.strip():
        raise UserError(f"--product must be a non-empty id without surrounding spaces, got {args.product!r}")
    model = _load_model(args)
    desc = _describe(model, args)
    identity = {"backbone": desc["backbone"], "embed_dim": desc["embed_dim"], "checkpoint_sha256": desc.get("checkpoint_sha256")}
    if (args.gallery / "gallery.json").exists():
        gallery = Gallery.load(args.gallery)
        known = gallery.metadata.get("embedder")
        if known and known != identity:
            raise UserError(f"gallery was built with another embedder ({known}); use a new gallery folder", args.gallery)
    else:
        gallery = Gallery(metadata={})
    gallery.metadata["embedder"] = identity
    files = _image_files(args.images)
    emb, ok = ImageEmbedder(model).embed_files(files, progress="embedding references")
    if not ok.any():
        raise UserError(f"none of the {len(files)} images could be read")
    gallery.add(args.product, emb)
    gallery.save(args.gallery, overwrite=True)
    print(f"added {int(ok.sum())} views of {args.product} ({int((~ok).sum())} unreadable skipped); "
          f"gallery has {len(gallery)} products")
    return 0


def _cmd_gallery_list(args: argparse.Namespace) -> int:
    from identification.gallery import Gallery
    from vision.common.progress import print_table

    gallery = Gallery.load(args.gallery)
    print_table(f"gallery {args.gallery} ({len(gallery)} products, dim {gallery.dim})", ["product", "views"],
                [[p, len(gallery.embeddings(p))] for p in gallery.product_ids])
    return 0


def _cmd_gallery_remove(args: argparse.Namespace) -> int:
    from identification.gallery import Gallery
    from vision.common.errors import UserError

    gallery = Gallery.load(args.gallery)
    if args.product not in gallery:
        raise UserError(f"product {args.product!r} is not in the gallery", args.gallery)
    gallery.remove(args.product)
    gallery.save(args.gallery, overwrite=True)
    print(f"removed {args.product}; gallery has {len(gallery)} products")
    return 0


def _cmd_lightning(args: argparse.Namespace) -> int:
    from identification.lightning_cli import run_lightning_cli
    from vision.common.errors import run_with_error_convention

    rest = list(args.lightning_args)
    if rest and rest[0] == "--":
        rest = rest[1:]
    # The common options given after the subcommand reach us as LightningCLI arguments: take them out.
    debug = getattr(args, "debug", False) or "--debug" in rest
    if "--verbose" in rest:
        logging.getLogger().setLevel(logging.DEBUG)
    rest = [a for a in rest if a not in ("--debug", "--verbose")]
    if debug:
        print(f"LightningCLI args: {rest}", file=sys.stderr)

    def run_cli() -> None:
        run_lightning_cli([args.lightning_subcommand, *rest])

    # With --debug found here (too late for the outer handler) a UserError also prints its traceback.
    return run_with_error_convention(run_cli, debug=debug)
