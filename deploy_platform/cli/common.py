"""What every `deploy-platform` command shares: exit codes, parsers, the API client, errors.

Exit codes (the same for every subcommand, so scripts can rely on them):
  0  done (deploy: the deployment is ready)
  1  the deployment failed (its error is printed)
  2  bad input: arguments, a name, or a request the API refused
  3  timed out waiting for the deployment (it may still finish)
  4  could not talk to the platform (not running, or a server error)

A command module has `add_parser(commands)`, which adds its parser and sets the
parser's `handler` default; `run_handler` runs it and turns the errors below into
the exit codes above.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from deploy_platform.cli.client import (
    DEFAULT_API_URL,
    ApiClient,
    ApiRefused,
    ApiUnreachable,
    resolve_api_url,
    resolve_token,
)
from deploy_platform.contracts.names import InvalidName, normalize_hostname, validate_project_name

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_BAD_INPUT",
    "EXIT_TIMEOUT",
    "EXIT_UNREACHABLE",
    "EXIT_CODES_HELP",
    "API_HELP",
    "UsageError",
    "add_command",
    "api_client",
    "check_hostname",
    "check_project",
    "run_handler",
    "say",
    "say_json",
    "say_lines",
    "wrap",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 3
EXIT_UNREACHABLE = 4

EXIT_CODES_HELP = """exit codes:
  0  ready (or done)        1  the deployment failed (its error is printed)
  2  bad input or refused   3  timed out waiting (the deployment may still finish)
  4  could not reach the platform (start it with `deploy-platform up`)"""

API_HELP = f"control API URL (default: $DP_API_URL or {DEFAULT_API_URL})"


class UsageError(Exception):
    """Bad input found before anything was sent; exit code 2."""


def wrap(*paragraphs: str) -> str:
    """Pre-wrapped paragraphs: the raw formatter (kept for the exit-code table) won't wrap."""
    return "\n\n".join(
        textwrap.fill(paragraph, 79, break_on_hyphens=False) for paragraph in paragraphs
    )


def add_command(
    commands: Any, name: str, help_text: str, *paragraphs: str
) -> argparse.ArgumentParser:
    """A (sub)command's parser: its help line, its description, the exit-code table."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text,
        description=wrap(*paragraphs),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def api_client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(resolve_api_url(args.api), resolve_token())


def say(out: TextIO, text: str = "") -> None:
    print(text, file=out, flush=True)


def say_lines(lines: Iterable[str], out: TextIO | None = None) -> None:
    for line in lines:
        say(out or sys.stdout, line)


def say_json(answer: Mapping[str, Any]) -> None:
    """An answer or record on stdout as JSON, keys sorted (what `--json` prints)."""
    say(sys.stdout, json.dumps(answer, indent=2, sort_keys=True))


def _checked(check: Callable[[str], str], value: str, flag: str | None) -> str:
    try:
        return check(value)
    except InvalidName as exc:
        raise UsageError(f"{flag}: {exc}" if flag else str(exc)) from None


def check_project(name: str, flag: str | None = "--project") -> str:
    """The project name, or a UsageError that names the flag it came from (if any)."""
    return _checked(validate_project_name, name, flag)


def check_hostname(raw: str) -> str:
    return _checked(normalize_hostname, raw, None)


def _refusal_message(exc: ApiRefused) -> str:
    if exc.status == 401:
        return (
            f"the API refused the token: {exc.message}. Set DP_API_TOKEN, or DP_STATE_DIR to "
            "the state directory of `deploy-platform up` (it holds the api-token file)"
        )
    field = f" [{exc.field}]" if exc.field else ""
    return f"{exc.message}{field}"


def run_handler(args: argparse.Namespace) -> int:
    """Run the parsed command's handler; its errors become messages and exit codes."""
    try:
        return int(args.handler(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ApiRefused as exc:
        print(f"error: {_refusal_message(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT if 400 <= exc.status < 500 else EXIT_UNREACHABLE
    except ApiUnreachable as exc:
        print(
            f"error: {exc}\nIs the platform running? Start it with `deploy-platform up`, "
            "or point --api / DP_API_URL at it.",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print("interrupted; the deployment (if queued) goes on", file=sys.stderr)
        return 130
