"""LightningCLI for CTL training (``edgevision identify fit|validate|test --config YAML``).

The YAML gives ``model.model`` as ``class_path: identification.model.build_embedder`` with its arguments,
``model.loss`` as ``identification.ctl.CTLCriterion``, the data module's arguments under ``data`` and the
Trainer's under ``trainer``. ``data.num_classes`` (training products) is linked into ``model.num_classes``
(``data.image_size`` defaults to the embedder's input size). The resolved config is saved beside the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from pytorch_lightning.cli import LightningCLI

from identification.lit import ArmBenchDataModule, CTLModule


class CTLLightningCLI(LightningCLI):
    """LightningCLI with the data -> model links of this task."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")


def run_lightning_cli(args: Sequence[str], run: bool = True, **kwargs: Any) -> CTLLightningCLI:
    """Run (or with ``run=False`` only instantiate) the CLI on ``args`` (``[subcommand, ...]`` when run)."""
    from vision.common.errors import UserError

    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")  # args are ours
    try:
        return CTLLightningCLI(
            CTLModule,
            ArmBenchDataModule,
            args=list(args),
            run=run,
            save_config_kwargs={"overwrite": True},
            **kwargs,
        )
    except SystemExit as exc:  # jsonargparse reports config errors by exiting
        if exc.code not in (0, None):
            raise UserError("invalid training arguments or config (see the message above)") from exc
        raise
