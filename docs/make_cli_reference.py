"""Write docs/cli.md from the argument parser, so the CLI reference is the `--help` text itself.

Run ``python docs/make_cli_reference.py``; tests/test_cli_reference.py checks that docs/cli.md is
current.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hnnbio.cli import build_parser


def render() -> str:
    parser = build_parser()
    out = [
        "# CLI reference",
        "",
        "Generated from the parser by `python docs/make_cli_reference.py`; every subcommand's",
        "`--help` prints the same text. `python -m hnnbio` works like `hnnbio`.",
        "",
        "```text",
        _help(parser, "hnnbio"),
        "```",
        "",
    ]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, child in sub.choices.items():
        out += [f"## hnnbio {name}", "", "```text", _help(child, f"hnnbio {name}"), "```", ""]
        nested = [a for a in child._actions if isinstance(a, argparse._SubParsersAction)]
        for action in nested:
            for sub_name, grandchild in action.choices.items():
                out += [
                    f"### hnnbio {name} {sub_name}",
                    "",
                    "```text",
                    _help(grandchild, f"hnnbio {name} {sub_name}"),
                    "```",
                    "",
                ]
    return "\n".join(out)


def _help(parser: argparse.ArgumentParser, prog: str) -> str:
    parser.prog = prog
    formatter = parser.formatter_class
    parser.formatter_class = lambda prog: formatter(prog, width=100)
    return parser.format_help().rstrip()


if __name__ == "__main__":
    Path(__file__).with_name("cli.md").write_text(render())
