"""`deploy-platform logs ID [--follow] [--stderr]`: a deployment's build log.

The text is what the deployment's Dagster run captured, read through the control
API (`GET /api/deployments/<id>/logs`) piece by piece from byte offsets: the build
step's log and the build's own output (the Dagster UI's stdout tab), or with --stderr
Dagster's log of the run (its stderr tab). The log goes to stdout as it is; what
this command says about it (queued, the run's URL) goes to stderr, so
`logs ID > build.log` keeps only the log.

`failure_report` is what a failed `deploy` prints: the last complete lines of the
log, this command and the run's page in the Dagster UI.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from typing import Any

from deploy_platform.cli import common
from deploy_platform.cli.client import ApiClient, ApiError, ApiUnreachable
from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.text_format import error_headline

__all__ = ["add_parser", "run_logs", "failure_report", "logs_command", "FAILURE_TAIL_LINES"]

POLL_SECONDS = 0.5
#: Lines of the build log a failed `deploy` prints.
FAILURE_TAIL_LINES = 40

_TEXTS = {
    "logs": (
        "print a deployment's build log (--follow: as it is written)",
        "Print the build log of deployment ID: what its Dagster run captured, the same "
        "text as the stdout tab of the run's page in the Dagster UI (what the build "
        "step found and did: framework, cache, warnings, each command and what it "
        "printed), or with --stderr its stderr tab (Dagster's log of the run: every "
        "step's messages and tracebacks).",
        "The log goes to stdout; notes about it (queued, the run's URL, the error) go "
        "to stderr. With --follow, the log is printed as the build writes it until the "
        "deployment is ready or failed, and the exit code says which (0 or 1); a "
        "deployment still queued is waited for.",
    ),
}


def logs_command(deployment_id: str) -> str:
    return f"deploy-platform logs {deployment_id}"


def add_parser(commands: Any) -> None:
    logs = common.add_command(commands, "logs", *_TEXTS["logs"])
    logs.add_argument("id", metavar="ID", help="deployment id (12 characters, from `deploy`)")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing as the build writes, until the deployment is ready or failed",
    )
    logs.add_argument(
        "--stderr",
        action="store_true",
        help="print the run's stderr (Dagster's log of the run) instead of the build's output",
    )
    logs.add_argument("--api", metavar="URL", help=common.API_HELP)
    logs.set_defaults(handler=run_logs)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class _Reader:
    """Reads the log from where it stopped; a new run (a retry) starts at its beginning."""

    def __init__(self, client: ApiClient, deployment_id: str, stream: str) -> None:
        self.client = client
        self.deployment_id = deployment_id
        self.stream = stream
        self.offset = 0
        self.run_id: str | None = None
        self.printed = 0

    def read(self) -> dict[str, Any]:
        """Print what is new; the last answer (`more` false: nothing left right now)."""
        while True:
            page = self.client.logs(self.deployment_id, offset=self.offset, stream=self.stream)
            run_id = page.get("run_id")
            if run_id and self.run_id and run_id != self.run_id:
                common.say(sys.stderr, f"--- the deployment runs again: run {run_id} ---")
                self.offset = 0
                page = self.client.logs(self.deployment_id, offset=0, stream=self.stream)
            if run_id:
                self.run_id = run_id
            text = str(page.get("text") or "")
            if text:
                _write(text)
                self.printed += len(text)
            offset = int(page.get("next_offset") or self.offset)
            # An answer that moved nothing ends the round too, whatever it says.
            if not page.get("more") or offset == self.offset:
                self.offset = offset
                return page
            self.offset = offset


def _say_queued(page: Mapping[str, Any], deployment_id: str, follow: bool) -> None:
    waiting = "waiting for it" if follow else f"`{logs_command(deployment_id)} --follow` waits"
    common.say(
        sys.stderr,
        f"Deployment {deployment_id} is queued: its build has not started yet ({waiting}).",
    )


def _say_end(page: Mapping[str, Any], reader: _Reader, stream: str) -> None:
    deployment_id = reader.deployment_id
    if reader.run_id is None and page.get("status") == "failed":
        common.say(
            sys.stderr,
            f"Deployment {deployment_id} failed before its build started: "
            f"{page.get('error') or 'no reason recorded'}",
        )
        return
    if reader.printed == 0 and reader.run_id is not None and stream == "stdout":
        common.say(
            sys.stderr,
            "(the build printed nothing; Dagster's log of the run: "
            f"`{logs_command(deployment_id)} --stderr`)",
        )
    if page.get("status") == "failed" and page.get("error"):
        headline = error_headline(str(page["error"]))
        common.say(sys.stderr, f"Deployment {deployment_id} failed: {headline}")
    if page.get("run_url"):
        common.say(sys.stderr, f"Dagster run: {page['run_url']}")


def run_logs(args: argparse.Namespace) -> int:
    if not is_deployment_id(args.id):
        raise common.UsageError(
            f"{args.id!r} is not a deployment id (12 characters of a-z and 2-7, "
            "as printed by `deploy-platform deploy`)"
        )
    stream = "stderr" if args.stderr else "stdout"
    reader = _Reader(common.api_client(args), args.id, stream)
    page = reader.read()
    if not args.follow:
        if page.get("status") == "queued":
            _say_queued(page, args.id, follow=False)
        elif not page.get("finished"):
            common.say(
                sys.stderr,
                f"(deployment {args.id} is still {page.get('status')}; "
                f"`{logs_command(args.id)} --follow` prints the rest as it comes)",
            )
        _say_end(page, reader, stream)
        return common.EXIT_OK
    announced_queue = False
    lost_contact = False
    while not page.get("finished"):
        # Queued in Redis, or its run waiting in Dagster's queue: nothing to print yet.
        if page.get("status") == "queued" and not announced_queue:
            _say_queued(page, args.id, follow=True)
            announced_queue = True
        time.sleep(POLL_SECONDS)
        try:
            page = reader.read()
        except ApiUnreachable as exc:
            # The build goes on without us: an API restart must not end the follow.
            if not lost_contact:
                common.say(sys.stderr, f"lost contact with the API ({exc}); retrying")
            lost_contact = True
            continue
        lost_contact = False
    _say_end(page, reader, stream)
    return common.EXIT_FAILED if page.get("status") == "failed" else common.EXIT_OK


def failure_report(client: ApiClient, record: Mapping[str, Any]) -> list[str]:
    """What a failed `deploy` prints: why, the last complete lines of the build log, the
    command that prints all of it and the run's page in the Dagster UI."""
    deployment_id = str(record.get("id"))
    error = str(record.get("error") or "no reason recorded")
    try:
        page = client.logs(deployment_id, tail=FAILURE_TAIL_LINES)
    except ApiError as exc:
        # The record says why; the log could not be read (no Dagster instance here?).
        return [
            f"Deployment {deployment_id} failed: {error}",
            f"(the build log could not be read: {exc})",
            f"Full log:    {logs_command(deployment_id)}",
        ]
    tail = str(page.get("text") or "").splitlines()
    if tail:
        lines = [
            f"Deployment {deployment_id} failed: {error_headline(error)}",
            f"Last {len(tail)} lines of the build log:",
            *tail,
        ]
    else:
        lines = [f"Deployment {deployment_id} failed: {error}"]
    lines.append(f"Full log:    {logs_command(deployment_id)}")
    if page.get("run_url"):
        lines.append(f"Dagster run: {page['run_url']}")
    return lines
