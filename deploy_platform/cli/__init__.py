"""The `deploy-platform` command: `up`, `deploy`, `status`, `logs`, `rollback`, `promote`,
`aliases`, `domains`, `project`, `history`, `names` and `gc`.

One module per command group, each with `add_parser(commands)`: it adds its parser,
whose `handler` default runs the command. `common.py` holds what they share: the
exit codes (listed there and in `--help`), the API client made from `--api` and
the token, usage errors and the output helpers.
"""

from __future__ import annotations

import argparse

from deploy_platform.cli import (
    aliases,
    deploy,
    domains,
    gc,
    history,
    logs,
    names,
    projects,
    status,
    up,
)
from deploy_platform.cli.common import EXIT_BAD_INPUT, EXIT_CODES_HELP, run_handler

__all__ = ["build_parser", "main"]

# In the order `--help` lists them.
_COMMANDS = (up, deploy, status, logs, aliases, domains, projects, history, names, gc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
