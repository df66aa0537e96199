"""The `deploy-platform` command: `up`, `deploy`, `list`, `status`, `logs`, `rollback`, `promote`,
`aliases`, `domains`, `project`, `history`, `names` and `gc`.

One module per command group, each with `add_parser(commands)`: it adds its parser,
whose `handler` default runs the command. `common.py` holds what they share: the
exit codes (listed there and in `--help`), the API client made from `--api` and
the token, usage errors and the output helpers.
"""

from __future__ import annotations

import argparse
import difflib
from typing import Any

from deploy_platform.cli import (
    aliases,
    deploy,
    domains,
    gc,
    history,
    listing,
    logs,
    names,
    projects,
    status,
    up,
)
from deploy_platform.cli.common import EXIT_BAD_INPUT, EXIT_CODES_HELP, run_handler

__all__ = ["build_parser", "main"]

# In the order `--help` lists them.
_COMMANDS = (up, deploy, listing, status, logs, aliases, domains, projects, history, names, gc)


class _Parser(argparse.ArgumentParser):
    """Names the closest command when one is mistyped (`deploi` -> `deploy`): Python
    3.11's argparse lists every choice instead. Subcommand parsers are made of this
    class too (`add_subparsers` uses the parent's class), so `project lsit` is helped."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if isinstance(action, argparse._SubParsersAction) and choices is not None:
            if value not in choices:
                close = difflib.get_close_matches(str(value), list(choices), n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"the commands are {', '.join(choices)}"
                )
                raise argparse.ArgumentError(None, f"unknown command {value!r}; {hint}")
        super()._check_value(action, value)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="deploy-platform",
        description="From a Git repository or a directory to a live URL.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    return run_handler(args)
