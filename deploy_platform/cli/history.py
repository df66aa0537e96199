"""`deploy-platform history`: one row per deployment, from the platform's Dagster records.

    deploy-platform history [--project P] [--branch B] [--since 7d] [--limit N]
                            [--format table|csv|json] [--summary] [--plot stages.png]

Rows come from `GET /api/history` (paged, newest first); pandas shapes them here.
`--summary` adds p50/p95 per stage and each project's failure rate, `--plot` draws
stage durations over time into a PNG; both cover every deployment that matches the
filters, `--limit` only caps the rows printed.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from deploy_platform.cli import common
from deploy_platform.contracts.errors import InvalidRequest

__all__ = ["add_parser", "run_history", "TABLE_LIMIT", "PAGE_SIZE"]

#: Rows a table shows unless --limit says otherwise (csv and json: every row).
TABLE_LIMIT = 50
PAGE_SIZE = 1000

_DESCRIPTION = (
    "Show the deployment history: one row per deployment with its project, branch, "
    "commit, environment, trigger (api, webhook, ui-rematerialization, backfill), "
    "status, when it was queued, started and finished, the seconds it spent queued, "
    "cloning, installing, building and publishing, files and bytes (reused), its URL, "
    "and the lineage: which source_archive materialization (event storage id and data "
    "version) built_artifact was made from, and which built_artifact "
    "published_deployment published. Newest first. It comes from the Dagster "
    "instance's records through the control API (GET /api/history); deployments "
    "removed by retention stay listed, marked archived."
)
_SINCE_HELP = (
    "only deployments queued at or after T: an ISO 8601 date or time "
    "(2026-12-01, 2026-12-01T08:00:00Z; UTC unless a zone is given) or an age "
    "such as 90m, 24h, 7d, 2w"
)


def add_parser(commands: Any) -> None:
    history = commands.add_parser(
        "history",
        help="the deployment history: statuses, stage timings, lineage (from Dagster)",
        description="\n\n".join(textwrap.fill(p, 79) for p in (_DESCRIPTION,)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    history.add_argument("--project", metavar="P", help="only this project's deployments")
    history.add_argument("--branch", metavar="B", help="only deployments of this branch (ref)")
    history.add_argument("--since", metavar="T", help=_SINCE_HELP)
    history.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        help="table (default), csv (every column) or json (every column); with --plot, "
        "the rows are printed only when --format is given",
    )
    history.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"print at most N rows, newest first (default: {TABLE_LIMIT} for a table, "
        "every row for csv and json)",
    )
    history.add_argument(
        "--summary",
        action="store_true",
        help="also print p50/p95 seconds per stage and each project's failure rate "
        "(over every matching deployment)",
    )
    history.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw every matching deployment's stage durations over time into a PNG "
        "(and print no rows unless --format is given)",
    )
    history.add_argument("--api", metavar="URL", help=common.API_HELP)
    history.set_defaults(handler=run_history)


def _check(args: argparse.Namespace) -> None:
    from deploy_platform.history.params import check_branch, parse_since

    if args.project is not None:
        common.check_project(args.project)
    try:
        if args.branch is not None:
            check_branch(args.branch)
        if args.since is not None:
            parse_since(args.since)
    except InvalidRequest as exc:
        raise common.UsageError(f"--{exc.field}: {exc}") from None
    if args.limit is not None and args.limit < 1:
        raise common.UsageError("--limit must be 1 or more")
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise common.UsageError(f"--plot {args.plot}: the file name must end in .png")


def _fetch(args: argparse.Namespace, wanted: int | None) -> tuple[list[dict[str, Any]], int]:
    """Rows, newest first: `wanted` of them, or every one (None); and how many match."""
    client = common.api_client(args)
    rows: list[dict[str, Any]] = []
    total = 0
    cursor: str | None = None
    while wanted is None or len(rows) < wanted:
        size = PAGE_SIZE if wanted is None else min(PAGE_SIZE, wanted - len(rows))
        page = client.history(
            project=args.project,
            branch=args.branch,
            since=args.since,
            limit=size,
            cursor=cursor,
        )
        rows.extend(page.get("deployments") or [])
        total = int(page.get("total") or 0)
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return rows, total


def run_history(args: argparse.Namespace) -> int:
    _check(args)
    # `--plot` alone draws the plot and prints nothing else; a format asked for prints.
    print_rows = args.format is not None or args.plot is None
    args.format = args.format or "table"
    from deploy_platform.history.report import (
        frame_from_json,
        plot_stages,
        render_rows,
        render_summary,
        summarize,
    )

    limit = (
        args.limit if args.limit is not None else (TABLE_LIMIT if args.format == "table" else None)
    )
    every = args.summary or args.plot is not None
    rows, total = _fetch(args, None if every else limit)
    frame = frame_from_json(rows)
    shown = frame if limit is None else frame.head(limit)
    if args.format == "json" and args.summary:
        import json

        document = {
            "deployments": json.loads(render_rows(shown, "json")),
            "summary": summarize(frame),
        }
        print(json.dumps(document, indent=2))
    else:
        if print_rows:
            print(render_rows(shown, args.format))
        if print_rows and args.format == "table" and limit is not None and total > limit:
            print(f"({limit} of {total} shown; --limit N for more)", file=sys.stderr)
        if args.summary:
            if print_rows:
                print()
            print(render_summary(summarize(frame), args.format))
    if args.plot is not None:
        drawn = plot_stages(frame, args.plot)
        print(f"plotted {drawn} deployments into {args.plot}", file=sys.stderr)
    return common.EXIT_OK
