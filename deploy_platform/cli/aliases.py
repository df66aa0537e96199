"""`deploy-platform rollback`, `promote` and `aliases`: what production serves, and its log.

    deploy-platform rollback docs               # back to the deployment before the live one
    deploy-platform rollback docs k3v9p2m4x7qa  # back to that production deployment
    deploy-platform promote k3v9p2m4x7qa        # a ready preview into production
    deploy-platform aliases docs [--format json]

Nothing is built: the production alias points at a deployment that is already
published, and every edge serves it within a second. The move is logged as made
by `cli:<your login name>` (`deploy_platform.publish.alias_moves`).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Mapping
from typing import Any

from deploy_platform.cli import common
from deploy_platform.cli.output import format_urls
from deploy_platform.contracts.ids import ID_RULE, is_deployment_id
from deploy_platform.contracts.text_format import format_table
from deploy_platform.publish.alias_moves import MAX_ACTOR

__all__ = ["add_parser", "cli_actor", "run_rollback", "run_promote", "run_aliases"]

_NOT_ACTOR = re.compile(r"[^A-Za-z0-9._@+-]+")

# Command -> its help line, then its description's paragraphs.
_TEXTS = {
    "rollback": (
        "point production back at an earlier deployment (no rebuild)",
        "Point PROJECT's production URL and its custom domains at an earlier ready "
        "production deployment at once: nothing is built, every edge serves it within a "
        "second.",
        "Without ID: the newest ready production deployment queued before the one that "
        "is live (run it again to step further back). With ID: that deployment, which "
        "must be a ready production deployment of PROJECT (a preview goes live with "
        "`deploy-platform promote`). A push to the production branch after the rollback "
        "deploys as usual; one queued before it does not undo it.",
    ),
    "promote": (
        "put a ready deployment (a preview too) into production",
        "Point the production URL of ID's project, and its custom domains, at deployment "
        "ID at once, without a rebuild: a branch preview you checked goes live as it is, "
        "or an earlier production deployment comes back.",
    ),
    "aliases": (
        "show a project's aliases and who moved them",
        "Show what PROJECT's production and preview URLs serve now, then the alias "
        "move log, newest first: every deploy going live, rollback, promote and "
        "re-materialization in the Dagster UI, with who made it (actor), from which "
        "deployment and to which.",
    ),
}


def cli_actor() -> str:
    """`cli:<login name>`, reduced to the characters an actor may hold."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = ""
    user = _NOT_ACTOR.sub("-", user).strip("-.")
    return f"cli:{user}"[:MAX_ACTOR] if user else "cli"


def add_parser(commands: Any) -> None:
    rollback = common.add_command(commands, "rollback", *_TEXTS["rollback"])
    rollback.add_argument("project", metavar="PROJECT", help="the project to roll back")
    rollback.add_argument(
        "id", metavar="ID", nargs="?", help="the deployment to go back to (default: the previous)"
    )
    rollback.set_defaults(handler=run_rollback)
    promote = common.add_command(commands, "promote", *_TEXTS["promote"])
    promote.add_argument("id", metavar="ID", help="the deployment to put into production")
    promote.set_defaults(handler=run_promote)
    aliases = common.add_command(commands, "aliases", *_TEXTS["aliases"])
    aliases.add_argument("project", metavar="PROJECT", help="the project")
    aliases.add_argument(
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="how many moves to show, newest first (default 20, at most 1000)",
    )
    aliases.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table (default) or json (the API's answer)",
    )
    aliases.set_defaults(handler=run_aliases)
    for parser in (rollback, promote):
        parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    for parser in (rollback, promote, aliases):
        parser.add_argument("--api", metavar="URL", help=common.API_HELP)


def _check_id(raw: str) -> str:
    if not is_deployment_id(raw):
        raise common.UsageError(
            f"{raw[:40]!r} is not a deployment id ({ID_RULE}, as "
            "printed by `deploy-platform deploy` and listed by `deploy-platform aliases`)"
        )
    return raw


def _print_move(args: argparse.Namespace, answer: Mapping[str, Any], done: str) -> int:
    if args.json:
        common.say_json(answer)
        return common.EXIT_OK
    project, target = answer.get("project"), answer.get("to")
    if answer.get("moved"):
        was = answer.get("from") or "nothing"
        common.say(sys.stdout, f"{done}: {project} production now serves {target} (was {was})")
    else:
        common.say(sys.stdout, f"{project} production already serves {target}; nothing changed")
    common.say_lines(format_urls(answer.get("urls") or {}))
    return common.EXIT_OK


def run_rollback(args: argparse.Namespace) -> int:
    project = common.check_project(args.project)
    deployment = _check_id(args.id) if args.id else None
    answer = common.api_client(args).rollback(project, deployment, cli_actor())
    return _print_move(args, answer, "Rolled back")


def run_promote(args: argparse.Namespace) -> int:
    answer = common.api_client(args).promote(_check_id(args.id), cli_actor())
    return _print_move(args, answer, "Promoted")


def _moved_by(alias: Mapping[str, Any]) -> str:
    moved_by = alias.get("moved_by") or {}
    if not moved_by:
        return "-"
    return f"{moved_by.get('reason')} by {moved_by.get('actor')}"


def _when(iso: object) -> str:
    """`2024-05-01T12:00:03.123456Z` -> `2024-05-01 12:00:03Z`: seconds are enough here."""
    text = str(iso or "-")
    return f"{text[:10]} {text[11:19]}Z" if len(text) >= 19 and text[10] == "T" else text


def run_aliases(args: argparse.Namespace) -> int:
    project = common.check_project(args.project)
    if not 1 <= args.limit <= 1000:
        raise common.UsageError(f"--limit must be from 1 to 1000, not {args.limit}")
    answer = common.api_client(args).aliases(project, args.limit)
    if args.format == "json":
        common.say_json(answer)
        return common.EXIT_OK
    aliases: list[dict[str, Any]] = list(answer.get("aliases") or [])
    moves: list[dict[str, Any]] = list(answer.get("moves") or [])
    if aliases:
        rows = [
            [
                str(a["alias"]),
                str(a.get("kind")),
                str(a.get("deployment")),
                str(a.get("ref") or "-"),
                _moved_by(a),
                str(a.get("url") or ""),
            ]
            for a in aliases
        ]
        header = ["ALIAS", "KIND", "DEPLOYMENT", "REF", "LAST MOVE", "URL"]
        common.say_lines(format_table(header, rows))
    else:
        common.say(sys.stdout, f"project {project} has no aliases")
    common.say(sys.stdout)
    if not moves:
        common.say(sys.stdout, "no alias moves logged")
        return common.EXIT_OK
    common.say(sys.stdout, f"Alias moves, newest first ({len(moves)} shown):")
    rows = [
        [
            _when(m.get("time")),
            str(m.get("alias")),
            str(m.get("from") or "-"),
            str(m.get("to") or "-"),
            str(m.get("reason")),
            str(m.get("actor")),
        ]
        for m in moves
    ]
    common.say_lines(format_table(["TIME", "ALIAS", "FROM", "TO", "REASON", "ACTOR"], rows))
    return common.EXIT_OK
