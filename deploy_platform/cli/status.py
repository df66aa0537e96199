"""`deploy-platform status ID`: one deployment's record, as lines or JSON."""

from __future__ import annotations

import argparse
from typing import Any

from deploy_platform.cli import common
from deploy_platform.cli.client import ApiClient, ApiError
from deploy_platform.cli.logs import logs_command
from deploy_platform.cli.output import format_record
from deploy_platform.contracts.ids import ID_RULE, is_deployment_id

__all__ = ["add_parser", "run_status"]

# Command -> its help line, then its description's paragraphs.
_TEXTS = {
    "status": (
        "show a deployment's record",
        "Show a deployment: status, project, ref, commit, URLs, stage durations, "
        "files uploaded versus reused, the error if it failed, the command that prints "
        "its build log and its run's page in the Dagster UI.",
        "Exits 1 when the deployment failed (as `deploy` does), so a script can tell.",
    ),
}


def add_parser(commands: Any) -> None:
    status = common.add_command(commands, "status", *_TEXTS["status"])
    status.add_argument("id", metavar="ID", help="deployment id (12 characters, from `deploy`)")
    status.add_argument("--api", metavar="URL", help=common.API_HELP)
    status.add_argument("--json", action="store_true", help="print the record as JSON")
    status.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace) -> int:
    if not is_deployment_id(args.id):
        raise common.UsageError(
            f"{args.id!r} is not a deployment id ({ID_RULE}, "
            "as printed by `deploy-platform deploy` and listed by `deploy-platform list`)"
        )
    client = common.api_client(args)
    record = client.deployment(args.id)
    if args.json:
        common.say_json(record)
    else:
        common.say_lines(format_record(record, _log_rows(client, args.id)))
    return common.EXIT_FAILED if record.get("status") == "failed" else common.EXIT_OK


def _log_rows(client: ApiClient, deployment_id: str) -> list[tuple[str, str]]:
    """Where the build log is: the command, and the run's page in the Dagster UI."""
    rows = [("log", logs_command(deployment_id))]
    try:
        # The smallest read: only the run's id and URL are wanted here.
        page = client.logs(deployment_id, limit=1)
    except ApiError:
        return rows  # the record is what was asked for; the history may be elsewhere
    if page.get("run_url"):
        rows.append(("dagster run", str(page["run_url"])))
    return rows
