"""The ``edgevision`` console script: one parser, subcommands grouped by area.

Each area module exposes ``register(subparsers, common)`` which adds only the subcommands that work
and sets ``func`` (``args -> int | None``) on each. Area modules import only argparse at module level;
heavy imports (torch, timm, onnxruntime) happen inside the handlers so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vision.common.errors import run_with_error_convention

DESCRIPTION = """\
On-device computer vision for robotics and mobile video.

Start with `edgevision quickstart`: it generates its own data and runs every capability end to end.
Every command that produces numbers writes a JSON report; user mistakes exit with code 2 and one
line naming the file and the problem (add --debug for the traceback).
"""


def _common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts (added through ``parents=``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    common.add_argument("--verbose", action="store_true", help="log debug messages")
    return common


def _registrars() -> list:
    """The areas' ``register`` functions, in the order their commands appear in ``--help``."""
    from demos import demo_cli, quickstart
    from export import cli as export_cli
    from identification import cli as identification_cli
    from videosr import cli as videosr_cli
    from vision import cli as vision_cli

    return [quickstart.register, demo_cli.register, videosr_cli.register, identification_cli.register, vision_cli.register, export_cli.register]


def build_parser() -> argparse.ArgumentParser:
    """The full ``edgevision`` argument parser."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="edgevision",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    for register in _registrars():
        register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edgevision`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    from vision.common.progress import setup_logging

    setup_logging(verbose=getattr(args, "verbose", False))
    return run_with_error_convention(lambda: args.func(args), debug=getattr(args, "debug", False))


if __name__ == "__main__":
    raise SystemExit(main())
