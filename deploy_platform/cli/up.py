"""`deploy-platform up`: its flags; starting and supervising the platform is
`deploy_platform.cli.one_machine`, which knows nothing of the command line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deploy_platform.cli import common
from deploy_platform.cli.deploy import add_parser as add_deploy_parser
from deploy_platform.settings.registry import default_state_dir

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "up",
        help="start the whole platform on this machine (Ctrl-C stops it)",
        description="Start Redis (unless DP_REDIS_URL is set), the control API, the "
        "edge-origin, one Dagster code server, the Dagster daemon and the Dagster UI, on "
        "embedded defaults. The code server loads the definitions once; to reload code, "
        "restart up.",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where Redis data, objects, Dagster's home and logs live "
        f"(default: $DP_STATE_DIR or {default_state_dir()})",
    )
    parser.add_argument("--api-port", type=int, default=8000, help="control API port (8000)")
    parser.add_argument("--edge-port", type=int, default=8080, help="edge-origin port (8080)")
    parser.add_argument("--ui-port", type=int, default=3000, help="Dagster UI port (3000)")
    parser.add_argument(
        "--sample", action="store_true", help="deploy the bundled sample site once running"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from deploy_platform.cli.one_machine import run_up

    return run_up(args, deploy_sample=_deploy_sample)


def _deploy_sample(site: Path) -> int:
    """`deploy-platform deploy SITE --project sample --timeout 300`, as the command runs it."""
    parser = argparse.ArgumentParser(prog="deploy-platform")
    add_deploy_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["deploy", str(site), "--project", "sample", "--timeout", "300"])
    return common.run_handler(args)
