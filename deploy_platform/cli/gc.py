"""`deploy-platform gc`: apply the retention policy (`deploy_platform.retention`).

Run on a machine of the platform, beside `up`: it works on the object store,
Redis and the Dagster instance directly, with the same `DP_*` settings (the
Redis that `up` started is found through `<state>/run/redis.url`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from deploy_platform.cli.output import human_bytes
from deploy_platform.retention.collect import GcReport
from deploy_platform.retention.policy import (
    DEFAULT_KEEP_DAYS,
    DEFAULT_KEEP_PER_BRANCH,
    RetentionPolicy,
)

__all__ = ["add_gc_parser", "run_gc", "format_report"]

_EXIT_OK, _EXIT_BAD_INPUT, _EXIT_UNREACHABLE = 0, 2, 4


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is below 0")
    return value


def _days(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a number of days, 0 or more")
    return value


def add_gc_parser(commands: Any) -> None:
    gc = commands.add_parser(
        "gc",
        help="remove old deployments and unreferenced file bodies (retention policy)",
        description=(
            "Remove deployments the retention policy lets go, with their Dagster partition, "
            "runs and materializations, source, artifact and manifest, then file bodies no "
            "remaining manifest references. Kept: the newest --keep deployments of each "
            "project and branch, everything younger than --days days, every deployment an "
            "alias points at or needs (its previous deployment, and the skew-protection "
            "history within DP_EDGE_SKEW_GRACE_SECONDS), and every deployment not finished. "
            "Each removed deployment's record is saved at history/removed/<id>.json in the "
            "object store first. Safe while deployments publish."
        ),
    )
    gc.add_argument("--dry-run", action="store_true", help="show what would go; remove nothing")
    gc.add_argument(
        "--keep",
        type=_count,
        metavar="N",
        help="deployments kept per project and branch, newest first "
        f"(default: $DP_RETAIN_PER_BRANCH or {DEFAULT_KEEP_PER_BRANCH})",
    )
    gc.add_argument(
        "--days",
        type=_days,
        metavar="D",
        help=f"keep everything younger than D days (default: $DP_RETAIN_DAYS or "
        f"{DEFAULT_KEEP_DAYS:g})",
    )
    gc.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    gc.add_argument(
        "--state-dir",
        type=Path,
        help="the state directory of `deploy-platform up` (default: $DP_STATE_DIR)",
    )
    gc.set_defaults(handler=run_gc)


def run_gc(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from deploy_platform.processes.up import private_redis_url
    from deploy_platform.settings.platform import Settings
    from deploy_platform.storage import ObjectStoreError, open_store
    from deploy_platform.storage.redis_state import PlatformState

    out = out or sys.stdout
    env = dict(os.environ)
    if args.state_dir is not None:
        env["DP_STATE_DIR"] = str(args.state_dir)
    try:
        settings = Settings.from_env(env)
        policy = RetentionPolicy.from_env(env)
    except ValueError as exc:
        return _fail(f"bad setting in the environment: {exc}", _EXIT_BAD_INPUT)
    policy = policy.with_overrides(keep_per_branch=args.keep, keep_days=args.days)
    redis_url = settings.redis_url or private_redis_url(settings.state_dir)
    if not redis_url:
        return _fail(
            f"no Redis: set DP_REDIS_URL, or run `deploy-platform up` with state directory "
            f"{settings.state_dir} (its Redis URL is in run/redis.url while it runs)",
            _EXIT_BAD_INPUT,
        )
    from deploy_platform.instance.purge import collect_with_history, open_instance

    try:
        instance = open_instance(settings.state_dir, env)
    except FileNotFoundError as exc:
        return _fail(str(exc), _EXIT_BAD_INPUT)
    state = PlatformState.from_url(redis_url, settings.redis_prefix)
    try:
        store = open_store(
            settings.storage_url,
            env.get("DP_S3_ACCESS_KEY_ID") or None,
            env.get("DP_S3_SECRET_ACCESS_KEY") or None,
        )
        report = collect_with_history(instance, store, state, policy, dry_run=args.dry_run)
    except ObjectStoreError as exc:
        return _fail(f"object store: {exc}", _EXIT_UNREACHABLE)
    finally:
        state.redis.close()
        instance.dispose()
    if args.format == "json":
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write("\n".join(format_report(report)) + "\n")
    return _EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_report(report: GcReport) -> list[str]:
    """The report as plain lines: the policy, what goes (or went), what stays and why."""
    policy = report.policy
    verb = "Would remove" if report.dry_run else "Removed"
    lines = [
        f"Policy: keep the newest {policy.keep_per_branch} per project and branch, everything "
        f"younger than {policy.keep_days:g} days, and what aliases need.",
        f"{verb} {len(report.removed)} deployment{'' if len(report.removed) == 1 else 's'} "
        f"({human_bytes(report.deployment_bytes)} of sources, artifacts and manifests) and "
        f"{report.bodies} unreferenced file bod{'y' if report.bodies == 1 else 'ies'} "
        f"({human_bytes(report.body_bytes)}).",
    ]
    if report.removed:
        rows = [("ID", "PROJECT", "BRANCH", "STATUS", "QUEUED", "BYTES")]
        rows += [
            (r.id, r.project, r.branch or "-", r.status, _when(r.queued_at), human_bytes(r.bytes))
            for r in report.removed
        ]
        lines += ["", *_table(rows)]
    lines += ["", _kept_line(report)]
    for deployment_id, why in report.spared.items():
        lines.append(f"Spared {deployment_id}: {why} (it changed while collecting).")
    if report.sweep_deferred:
        lines.append(f"Bodies not swept this time: {report.sweep_deferred}. Run gc again later.")
    if report.dry_run:
        lines.append("Nothing was removed (--dry-run).")
    return lines


def _kept_line(report: GcReport) -> str:
    kinds = {"aliases": 0, "not finished": 0, "newest": 0, "young": 0, "running": 0}
    for decision in report.kept:
        text = " ".join(decision.reasons)
        kinds["aliases"] += "alias" in text
        kinds["not finished"] += "not finished" in text
        kinds["newest"] += "newest" in text
        kinds["young"] += "younger" in text
        kinds["running"] += "Dagster run" in text
    parts = [
        f"{kinds['aliases']} needed by aliases",
        f"{kinds['newest']} among the newest of their branch",
        f"{kinds['young']} younger than {report.policy.keep_days:g} days",
        f"{kinds['not finished']} not finished",
    ]
    if kinds["running"]:
        parts.append(f"{kinds['running']} with a Dagster run going on")
    return f"Kept {len(report.kept)}: " + ", ".join(parts) + " (one may count under several)."


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
