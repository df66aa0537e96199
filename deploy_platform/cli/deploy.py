"""`deploy-platform deploy`: send a git URL or a packed directory, then follow it to ready.

Progress goes to stdout (stderr with --json or --no-wait, so stdout holds only the
answer): each stage and each of the build's and publish's milestones once, as the
record's `progress` shows them (Node downloaded, cache restored, `npm ci`, bodies
uploaded...), what a queued deployment waits for (the daemon, a build slot), a
heartbeat when nothing changes for a while, and what an infrastructure fault makes
the deployment wait for.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from deploy_platform.cli import common, output
from deploy_platform.cli.build_flags import add_build_flags, build_settings
from deploy_platform.cli.client import ApiClient, ApiRefused, ApiUnreachable
from deploy_platform.cli.local_git import head_commit
from deploy_platform.cli.logs import failure_report
from deploy_platform.contracts.errors import DeploymentFailed
from deploy_platform.contracts.names import MAX_PROJECT_NAME, InvalidName, validate_project_name
from deploy_platform.contracts.text_format import human_bytes

__all__ = ["add_parser", "default_project_name", "run_deploy"]

# Left out of an uploaded directory: history and dependencies, never site content.
PACK_EXCLUDE = (".git", "node_modules")
POLL_SECONDS = 0.5
# With no stage change for this long, say that it is still going (CI logs look alive).
HEARTBEAT_SECONDS = 15.0

_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")

# Command -> its help line, then its description's paragraphs.
_TEXTS = {
    "deploy": (
        "deploy a git repository or a local directory and wait until it is live",
        "Deploy SOURCE and follow it through queued, cloning (unpacking, for a "
        "directory), building, publishing and ready, then print its URLs.",
        "SOURCE is an http(s) git URL (the platform pins the ref's current commit "
        "when it accepts the deployment) or an existing local directory (packed and "
        "uploaded as the source, without .git and node_modules; nothing is cloned). The "
        "API token is checked before a directory is packed.",
        "The API token comes from $DP_API_TOKEN, else the api-token file that "
        "`deploy-platform up` writes into the state directory ($DP_STATE_DIR).",
    ),
}


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:MAX_PROJECT_NAME].rstrip("-")


def default_project_name(source: str) -> str:
    """`https://host/org/my_site.git` -> `my-site`; a directory -> its name, slugified."""
    if Path(source).is_dir():
        name = Path(source).resolve().name
    else:
        path = urlsplit(source).path if "://" in source else source.split(":", 1)[-1]
        name = path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    slug = _slug(name)
    try:
        return validate_project_name(slug)
    except InvalidName as exc:
        raise common.UsageError(
            f"cannot make a project name from {source!r} ({exc}); pass --project NAME"
        ) from None


def _looks_like_url(source: str) -> bool:
    return "://" in source or bool(_SCP_LIKE.match(source)) or source.startswith("ext::")


def add_parser(commands: Any) -> None:
    deploy = common.add_command(commands, "deploy", *_TEXTS["deploy"])
    deploy.add_argument("source", metavar="SOURCE", help="git URL (https://...) or directory")
    deploy.add_argument(
        "--ref",
        help="branch or tag to deploy (default: the project's production branch if the "
        "project exists, else the repository's default branch, its HEAD; for a directory, "
        "main unless DP_PRODUCTION_BRANCH says otherwise); the production branch moves the "
        "project's URL, any other ref gets a preview URL of its own",
    )
    deploy.add_argument(
        "--project",
        help="project name: lowercase letters, digits and single hyphens, at most "
        f"{MAX_PROJECT_NAME} characters (default: the repository's or directory's name)",
    )
    deploy.add_argument("--api", metavar="URL", help=common.API_HELP)
    deploy.add_argument(
        "--no-wait", action="store_true", help="print the deployment id once queued and exit"
    )
    deploy.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for ready or failed (default: 600)",
    )
    deploy.add_argument(
        "--json",
        action="store_true",
        help="print the final record as JSON on stdout (progress goes to stderr)",
    )
    build = deploy.add_argument_group(
        "build settings",
        "Override the project's settings and detection, for this deployment.",
    )
    build.add_argument(
        "--clean",
        action="store_true",
        help="build without restoring the build cache (the fresh cache is still saved "
        "for the next build)",
    )
    add_build_flags(build)
    deploy.set_defaults(handler=run_deploy)


def _submit(args: argparse.Namespace, client: ApiClient, progress: TextIO) -> dict[str, Any]:
    from deploy_platform.source.archive.pack import pack_directory

    source: str = args.source
    build = build_settings(args)
    directory = Path(source)
    if directory.is_dir():
        project = (
            common.check_project(args.project) if args.project else default_project_name(source)
        )
        # A wrong token or a stopped API is said before a large directory is packed and sent.
        try:
            client.deployments(project, limit=1)
        except ApiRefused as exc:
            if exc.status == 401:
                raise
            # Anything else (a project not deployed yet: 404) is for the deploy to say.
        with tempfile.TemporaryDirectory(prefix="deploy-platform-") as tmp:
            archive = Path(tmp) / "source.tar.gz"
            try:
                stats = pack_directory(directory, archive, exclude=PACK_EXCLUDE)
            except (DeploymentFailed, OSError) as exc:
                raise common.UsageError(f"cannot pack {source}: {exc}") from None
            common.say(
                progress,
                f"Uploading {directory.resolve()} as project {project} "
                f"({stats.files} file{'' if stats.files == 1 else 's'}, "
                f"{human_bytes(stats.bytes)}, {human_bytes(archive.stat().st_size)} packed)",
            )
            commit = head_commit(directory)
            return client.deploy_archive(archive, project, args.ref, build, commit)
    if directory.exists():
        raise common.UsageError(f"{source} is a file; give a directory or a git URL (https://...)")
    if not _looks_like_url(source):
        raise common.UsageError(
            f"{source} is neither an existing directory nor a git URL; "
            "give a directory or an https:// repository URL"
        )
    project = common.check_project(args.project) if args.project else default_project_name(source)
    ref_note = f" (ref {args.ref})" if args.ref else ""
    common.say(progress, f"Deploying {source}{ref_note} as project {project}")
    return client.deploy_git(source, project, args.ref, build)


def _follow(
    client: ApiClient, record: dict[str, Any], timeout: float, progress: TextIO
) -> tuple[dict[str, Any], bool]:
    """Poll until ready or failed, printing each stage and milestone once, and what a
    queued deployment waits for when that changes; (record, finished)."""
    shown: set[object] = set()
    started = time.monotonic()
    last_change = started
    lost_contact = False

    def show_new_lines(current: dict[str, Any]) -> bool:
        # Stages and milestones in the order they happened, timed from queued (server time).
        stamps: dict[str, float] = current.get("timestamps") or {}
        queued_at = stamps.get("queued")
        fresh: list[tuple[float, str]] = []
        for name, at in stamps.items():
            if name not in shown and name in output.STAGES:
                shown.add(name)
                fresh.append((at, output.stage_label(name, current.get("source"))))
        for entry in current.get("progress") or ():
            key = output.progress_key(entry)
            if key not in shown and isinstance(entry.get("at"), int | float):
                shown.add(key)
                label = output.progress_label(entry, current.get("source"))
                fresh.append((float(entry["at"]), label))
        for at, label in sorted(fresh, key=lambda item: item[0]):
            elapsed = at - queued_at if queued_at is not None else time.monotonic() - started
            common.say(progress, output.stage_line(label, max(elapsed, 0.0)))
        return bool(fresh)

    notes: dict[str, str | None] = {"retrying": None, "waiting": None}

    def show_notes(current: dict[str, Any]) -> bool:
        # What the deployment waits for: an infrastructure fault, or (queued) Dagster.
        changed = False
        for name, line in (
            ("retrying", output.retrying_line(current)),
            ("waiting", output.waiting_line(current)),
        ):
            if line == notes[name]:
                continue
            notes[name] = line
            changed = True
            if line and name == "waiting":
                elapsed = time.monotonic() - started
                common.say(progress, output.stage_line(f"queued: {line}", elapsed))
            elif line:
                common.say(progress, f"  {line}")
        return changed

    show_new_lines(record)
    while record.get("status") not in ("ready", "failed"):
        now = time.monotonic()
        if now - started > timeout:
            return record, False
        if now - last_change > HEARTBEAT_SECONDS:
            common.say(progress, output.stage_line(output.still_line(record), now - started))
            last_change = now
        time.sleep(POLL_SECONDS)
        try:
            record = client.deployment(str(record["id"]))
        except ApiUnreachable as exc:
            # The deployment goes on without us: an API restart must not end the wait.
            if not lost_contact:
                common.say(progress, f"  lost contact with the API ({exc}); retrying")
            lost_contact = True
            continue
        lost_contact = False
        if show_new_lines(record) | show_notes(record):
            last_change = time.monotonic()
    return record, True


def run_deploy(args: argparse.Namespace) -> int:
    client = common.api_client(args)
    # Scripts capture stdout: with --json or --no-wait it holds only the answer.
    progress = sys.stderr if args.json or args.no_wait else sys.stdout
    record = _submit(args, client, progress)
    deployment_id = str(record["id"])
    commit = f" at commit {str(record['commit'])[:12]}" if record.get("commit") else ""
    if args.no_wait:
        if args.json:
            common.say_json(record)
        else:
            common.say(sys.stdout, deployment_id)
            common.say(
                sys.stderr,
                f"Queued deployment {deployment_id}{commit}; "
                f"follow it with `deploy-platform status {deployment_id}`, its build log "
                f"with `deploy-platform logs {deployment_id} --follow`",
            )
        return common.EXIT_OK
    common.say(progress, f"Queued deployment {deployment_id}{commit}")
    record, finished = _follow(client, record, args.timeout, progress)
    if args.json:
        common.say_json(record)
    if not finished:
        common.say(
            sys.stderr,
            f"Timed out after {args.timeout:g}s; deployment {deployment_id} is still "
            f"{record.get('status')}. "
            f"Check it later with `deploy-platform status {deployment_id}`; its build log: "
            f"`deploy-platform logs {deployment_id} --follow`.",
        )
        return common.EXIT_TIMEOUT
    if record.get("status") == "failed":
        common.say_lines(failure_report(client, record), sys.stderr)
        return common.EXIT_FAILED
    total = (record.get("durations") or {}).get("total")
    took = f" in {total:.1f}s" if isinstance(total, int | float) else ""
    common.say(progress, f"Ready{took}: {output.format_transfer(record) or 'published'}")
    common.say_lines(output.format_urls(record.get("urls") or {}), progress)
    # Warnings go to stderr: they are for the person, and stdout stays the URLs.
    common.say_lines(output.format_warnings(record), sys.stderr)
    return common.EXIT_OK
