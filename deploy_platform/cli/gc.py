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
from pathlib import Path
from typing import Any, TextIO

from deploy_platform.cli import common
from deploy_platform.retention.policy import (
    DEFAULT_KEEP_DAYS,
    DEFAULT_KEEP_PER_BRANCH,
    RetentionPolicy,
)
from deploy_platform.retention.report import format_report

__all__ = ["add_parser", "run_gc"]

_HELP = "remove old deployments and unreferenced file bodies (retention policy)"
_DESCRIPTION = (
    "Remove deployments the retention policy lets go, with their Dagster partition, "
    "runs and materializations, source, artifact and manifest, then file bodies no "
    "remaining manifest references. Kept: the newest --keep deployments of each "
    "project and branch, everything younger than --days days, every deployment an "
    "alias points at or needs (its previous deployment, and the skew-protection "
    "history within DP_EDGE_SKEW_GRACE_SECONDS), and every deployment not finished. "
    "Each removed deployment's record is saved at history/removed/<id>.json in the "
    "object store first. Safe while deployments publish."
)


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


def add_parser(commands: Any) -> None:
    gc = commands.add_parser("gc", help=_HELP, description=_DESCRIPTION)
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
    from deploy_platform.processes.private_redis import private_redis_url
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
        return _fail(f"bad setting in the environment: {exc}", common.EXIT_BAD_INPUT)
    policy = policy.with_overrides(keep_per_branch=args.keep, keep_days=args.days)
    redis_url = settings.redis_url or private_redis_url(settings.state_dir)
    if not redis_url:
        return _fail(
            f"no Redis: set DP_REDIS_URL, or run `deploy-platform up` with state directory "
            f"{settings.state_dir} (its Redis URL is in run/redis.url while it runs)",
            common.EXIT_BAD_INPUT,
        )
    from deploy_platform.orchestration.jobs.purge import collect_with_history, open_instance

    try:
        instance = open_instance(settings.state_dir, env)
    except FileNotFoundError as exc:
        return _fail(str(exc), common.EXIT_BAD_INPUT)
    state = PlatformState.from_url(redis_url, settings.redis_prefix)
    try:
        store = open_store(
            settings.storage_url,
            env.get("DP_S3_ACCESS_KEY_ID") or None,
            env.get("DP_S3_SECRET_ACCESS_KEY") or None,
        )
        report = collect_with_history(instance, store, state, policy, dry_run=args.dry_run)
    except ObjectStoreError as exc:
        return _fail(f"object store: {exc}", common.EXIT_UNREACHABLE)
    finally:
        state.redis.close()
        instance.dispose()
    if args.format == "json":
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write("\n".join(format_report(report)) + "\n")
    return common.EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
