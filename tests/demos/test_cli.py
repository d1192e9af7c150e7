import subprocess
import sys

from demos.cli import build_parser


def test_help_lists_commands_and_exits_zero() -> None:
    proc = subprocess.run([sys.executable, "-m", "demos.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "quickstart" in proc.stdout


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")

    def walk(p, path):
        subs = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs:
            yield path, p
        for s in subs:
            for name, child in s.choices.items():
                yield from walk(child, [*path, name])

    leaves = list(walk(parser, []))
    assert leaves and sub.choices
    for path, p in leaves:
        text = p.format_help()
        assert p.description or p.format_usage(), path
        assert len(text) > 80, f"{' '.join(path)} --help says too little"
