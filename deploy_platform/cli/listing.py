"""`deploy-platform list [--project P] [--limit N]`: the deployments, newest first.

Like `vercel ls`: one line per deployment with its age, status, environment,
branch, commit and author, how long it took, its URL once live, and a `●` marker
on what each alias serves now (`● production`, `● preview main`), so which one is
live reads at a glance. Rows come from `GET /api/deployments` (paged).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from deploy_platform.cli import common
from deploy_platform.cli.output import stage_label
from deploy_platform.contracts.text_format import format_table

__all__ = ["add_parser", "run_list", "format_age", "format_rows", "DEFAULT_LIMIT"]

DEFAULT_LIMIT = 20
_PAGE = 100
_MESSAGE_WIDTH = 40

_TEXTS = {
    "list": (
        "list deployments, newest first, and what each alias serves now",
        "List the deployments of a project (--project), or of every project, newest "
        "first: age, id, status, environment, branch, commit (its id and subject), "
        "author, duration, trigger (api: a deploy; webhook: a push or pull request; "
        "ui-rematerialization), the URL once it is live, and a marker on what each "
        "alias serves now: `● production` is the live site, `● preview main` the "
        "branch's preview. A rollback or promote shows at once. With --project the "
        "list ends with the Dagster UI's link to the project's runs.",
        "A failed deployment shows no URL: nothing of it went live (see its error "
        "with `deploy-platform status ID`).",
    ),
}


def add_parser(commands: Any) -> None:
    listing = common.add_command(commands, "list", *_TEXTS["list"])
    listing.add_argument("--project", metavar="P", help="only this project's deployments")
    listing.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show at most N deployments (default: {DEFAULT_LIMIT})",
    )
    listing.add_argument("--api", metavar="URL", help=common.API_HELP)
    listing.add_argument(
        "--json",
        action="store_true",
        help='print {"deployments": [...], "next_cursor": ...} as the API answers it',
    )
    listing.set_defaults(handler=run_list)


def format_age(seconds: float) -> str:
    """`45s`, `12m`, `3h`, `5d`: the largest whole unit, as `vercel ls` shows age."""
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _commit(item: Mapping[str, Any]) -> str:
    sha = str(item.get("commit") or "")[:7]
    message = str(item.get("commit_message") or "")
    if len(message) > _MESSAGE_WIDTH:
        message = message[: _MESSAGE_WIDTH - 1] + "…"
    return " ".join(part for part in (sha, message) if part) or "-"


def _duration(item: Mapping[str, Any]) -> str:
    took = item.get("duration")
    return f"{took:.1f}s" if isinstance(took, int | float) else "-"


def _serving(item: Mapping[str, Any]) -> str:
    return ", ".join(f"● {alias.get('label')}" for alias in item.get("serving") or [])


def format_rows(items: Sequence[Mapping[str, Any]], now: float, with_project: bool) -> list[str]:
    """The table `list` prints (the PROJECT column only when several may show)."""
    header = ["AGE", "DEPLOYMENT", "PROJECT", "STATUS", "ENV", "BRANCH", "COMMIT"]
    header += ["AUTHOR", "DURATION", "TRIGGER", "URL", "SERVING"]
    rows: list[list[str]] = []
    for item in items:
        queued = item.get("queued_at")
        row = [
            format_age(now - queued) if isinstance(queued, int | float) else "-",
            str(item.get("id")),
            str(item.get("project")),
            stage_label(str(item.get("status")), item.get("source")),
            str(item.get("environment")),
            str(item.get("branch") or "-"),
            _commit(item),
            str(item.get("commit_author") or "-"),
            _duration(item),
            str(item.get("trigger") or "-"),
            str(item.get("url") or "-"),
            _serving(item),
        ]
        rows.append(row)
    if not with_project:
        header.pop(2)
        for row in rows:
            row.pop(2)
    return format_table(header, rows)


def run_list(args: argparse.Namespace) -> int:
    project = common.check_project(args.project) if args.project else None
    if args.limit < 1:
        raise common.UsageError("--limit must be 1 or more")
    client = common.api_client(args)
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    runs_url: str | None = None
    while len(items) < args.limit:
        page = client.deployments(project, min(_PAGE, args.limit - len(items)), cursor)
        items += list(page.get("deployments") or [])
        runs_url = page.get("dagster_runs_url")
        cursor = page.get("next_cursor")
        if not cursor:
            break
    if args.json:
        common.say_json(
            {"deployments": items, "next_cursor": cursor}
            | ({"dagster_runs_url": runs_url} if runs_url else {})
        )
        return common.EXIT_OK
    if not items:
        where = f"of project {project} " if project else ""
        common.say(sys.stdout, f"no deployments {where}yet (deploy with `deploy-platform deploy`)")
        return common.EXIT_OK
    common.say_lines(format_rows(items, time.time(), with_project=project is None))
    if cursor:
        common.say(sys.stderr, f"({len(items)} shown; --limit N for more)")
    if runs_url:
        common.say(sys.stdout, f"Dagster runs: {runs_url}")
    return common.EXIT_OK
