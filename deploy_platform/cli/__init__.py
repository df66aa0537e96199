"""The `deploy-platform` command: `up`, `deploy`, `status`, `rollback`, `promote`,
`aliases`, `domains`, `project`, `history`, `gc` and `names`.

A command may live in a module of its own (`cli_names`, `cli_aliases`): it adds its parser and
sets the parser's `handler` default, which `main` runs.

Exit codes (the same for every subcommand, so scripts can rely on them):
  0  done (deploy: the deployment is ready)
  1  the deployment failed (its error is printed)
  2  bad input: arguments, a name, or a request the API refused
  3  timed out waiting for the deployment (it may still finish)
  4  could not talk to the platform (not running, or a server error)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from deploy_platform.cli.client import (
    DEFAULT_API_URL,
    ApiClient,
    ApiRefused,
    ApiUnreachable,
    resolve_api_url,
    resolve_token,
)
from deploy_platform.cli.output import (
    STAGES,
    format_record,
    format_transfer,
    format_urls,
    human_bytes,
    retrying_line,
    stage_line,
)
from deploy_platform.contracts.errors import DeploymentFailed
from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.names import (
    MAX_PROJECT_NAME,
    InvalidName,
    normalize_hostname,
    validate_project_name,
)

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_BAD_INPUT",
    "EXIT_TIMEOUT",
    "EXIT_UNREACHABLE",
    "UsageError",
    "add_build_flags",
    "build_parser",
    "build_settings",
    "default_project_name",
    "main",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 3
EXIT_UNREACHABLE = 4

# Left out of an uploaded directory: history and dependencies, never site content.
PACK_EXCLUDE = (".git", "node_modules")
POLL_SECONDS = 0.5
# With no stage change for this long, say that it is still going (CI logs look alive).
HEARTBEAT_SECONDS = 15.0

_EXIT_CODES_HELP = """exit codes:
  0  ready (or done)        1  the deployment failed (its error is printed)
  2  bad input or refused   3  timed out waiting (the deployment may still finish)
  4  could not reach the platform (start it with `deploy-platform up`)"""

_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")


class UsageError(Exception):
    """Bad input found before anything was sent; exit code 2."""


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
        raise UsageError(
            f"cannot make a project name from {source!r} ({exc}); pass --project NAME"
        ) from None


def _looks_like_url(source: str) -> bool:
    return "://" in source or bool(_SCP_LIKE.match(source)) or source.startswith("ext::")


def _wrap(*paragraphs: str) -> str:
    """Pre-wrapped paragraphs: the raw formatter (kept for the exit-code table) won't wrap."""
    return "\n\n".join(
        textwrap.fill(paragraph, 79, break_on_hyphens=False) for paragraph in paragraphs
    )


def build_parser() -> argparse.ArgumentParser:
    from deploy_platform.cli.names import add_names_parser
    from deploy_platform.processes.up import add_up_arguments

    parser = argparse.ArgumentParser(
        prog="deploy-platform",
        description="From a Git repository or a directory to a live URL.",
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="start the whole platform on this machine (Ctrl-C stops it)",
        description="Start Redis (unless DP_REDIS_URL is set), the control API, the "
        "edge-origin, the Dagster daemon and the Dagster UI, on embedded defaults.",
    )
    add_up_arguments(up)

    api_help = f"control API URL (default: $DP_API_URL or {DEFAULT_API_URL})"
    deploy = commands.add_parser(
        "deploy",
        help="deploy a git repository or a local directory and wait until it is live",
        description=_wrap(
            "Deploy SOURCE and follow it through queued, cloning, building, publishing "
            "and ready, then print its URLs.",
            "SOURCE is an http(s) git URL (the platform pins the ref's current commit "
            "when it accepts the deployment) or an existing local directory (packed and "
            "uploaded as the source, without .git and node_modules; nothing is cloned).",
            "The API token comes from $DP_API_TOKEN, else the api-token file that "
            "`deploy-platform up` writes into the state directory ($DP_STATE_DIR).",
        ),
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    deploy.add_argument("source", metavar="SOURCE", help="git URL (https://...) or directory")
    deploy.add_argument(
        "--ref",
        help="branch or tag to deploy (default: the project's production branch if the "
        "project exists, else the platform's: main unless DP_PRODUCTION_BRANCH says "
        "otherwise); the production branch moves the project's URL, any other ref gets "
        "a preview URL of its own",
    )
    deploy.add_argument(
        "--project",
        help="project name: lowercase letters, digits and single hyphens, at most "
        f"{MAX_PROJECT_NAME} characters (default: the repository's or directory's name)",
    )
    deploy.add_argument("--api", metavar="URL", help=api_help)
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

    status = commands.add_parser(
        "status",
        help="show a deployment's record",
        description=_wrap(
            "Show a deployment: status, project, ref, commit, URLs, stage durations, "
            "files uploaded versus reused, and the error if it failed."
        ),
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("id", metavar="ID", help="deployment id (12 characters, from `deploy`)")
    status.add_argument("--api", metavar="URL", help=api_help)
    status.add_argument("--json", action="store_true", help="print the record as JSON")
    from deploy_platform.cli.aliases import add_alias_commands

    add_alias_commands(commands, api_help)
    _add_domains_parser(commands, api_help)
    from deploy_platform.cli.projects import add_project_parser

    add_project_parser(commands, api_help)
    from deploy_platform.cli.history import add_history_parser

    add_history_parser(commands, api_help)
    add_names_parser(commands)
    from deploy_platform.cli.gc import add_gc_parser

    add_gc_parser(commands)
    return parser


def add_build_flags(group: Any) -> None:
    """The build-setting flags shared by `deploy` and `project create|update`;
    `build_settings` turns them into the API's `build` object."""
    group.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="a build variable; repeat for more. NAME alone takes the value from your "
        "environment (keeps secrets out of shell history). Values are sent to the "
        "platform for the build and never shown back (status prints ***)",
    )
    group.add_argument(
        "--root-dir",
        metavar="DIR",
        help="directory inside the repository to build (monorepos), e.g. apps/web",
    )
    group.add_argument(
        "--install-command",
        metavar="CMD",
        help='install command run by `sh -c`, e.g. "npm ci"; "" skips the install',
    )
    group.add_argument(
        "--build-command",
        metavar="CMD",
        help='build command run by `sh -c`, e.g. "npm run build"; "" skips the build',
    )
    group.add_argument(
        "--output-dir",
        metavar="DIR",
        help="directory the build writes the site into, relative to --root-dir, e.g. dist",
    )
    group.add_argument(
        "--node-version",
        metavar="RANGE",
        help="Node.js version or range to build with, e.g. 20, 20.11.1, >=18.12 or lts/*",
    )
    group.add_argument(
        "--package-manager",
        metavar="NAME[@VERSION]",
        help="npm, pnpm, yarn or bun, optionally with a version, e.g. pnpm@9",
    )


def _add_domains_parser(commands: Any, api_help: str) -> None:
    domains = commands.add_parser(
        "domains",
        help="map custom domains (www.example.com) to projects",
        description=_wrap(
            "A custom domain serves its project's production deployment and follows "
            "it: every production deploy and rollback moves the domain too. Point the "
            "domain's DNS at the edge (a CNAME to <project>.<base domain>, or the "
            "edge's address). Names under the platform's base domain are its own and "
            "cannot be mapped. Removing a domain leaves every deployment as it is."
        ),
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = domains.add_subparsers(dest="domains_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="map a hostname to a project",
        description="Map HOSTNAME to PROJECT's production deployment.",
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("hostname", metavar="HOSTNAME", help="for example www.example.com")
    add.add_argument("--project", required=True, help="the project the domain serves")
    listing = actions.add_parser(
        "list",
        help="show the mapped domains",
        description="Show every mapped custom domain and its project.",
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--project", help="only this project's domains")
    remove = actions.add_parser(
        "remove",
        help="unmap a hostname (deployments stay)",
        description="Stop serving HOSTNAME; the project and its deployments stay as they are.",
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    remove.add_argument("hostname", metavar="HOSTNAME")
    for action in (add, listing, remove):
        action.add_argument("--api", metavar="URL", help=api_help)
        action.add_argument("--json", action="store_true", help="print the answer as JSON")


def _client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(resolve_api_url(args.api), resolve_token())


def _say(out: TextIO, text: str = "") -> None:
    print(text, file=out, flush=True)


# Build setting -> the flag that sets it, for error messages.
_BUILD_FLAGS = {
    "root_directory": "--root-dir",
    "install_command": "--install-command",
    "build_command": "--build-command",
    "output_directory": "--output-dir",
    "node_version": "--node-version",
    "package_manager": "--package-manager",
    "env": "--env",
    "clean": "--clean",
}


def _build_env(items: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        name, has_value, value = item.partition("=")
        if not name:
            raise UsageError(f"--env {item[:40]!r}: give NAME=VALUE, or NAME to pass yours on")
        if not has_value:
            if name not in os.environ:
                raise UsageError(
                    f"--env {name}: no value given and {name} is not set in your environment; "
                    f"use --env {name}=VALUE or export {name}"
                )
            value = os.environ[name]
        if name in env:
            raise UsageError(f"--env {name} is given more than once")
        env[name] = value
    return env


def build_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The API's `build` object from the flags, checked here so mistakes cost no upload."""
    from deploy_platform.build.settings import BuildSettings
    from deploy_platform.contracts.errors import InvalidRequest

    data: dict[str, Any] = {
        "root_directory": args.root_dir,
        "install_command": args.install_command,
        "build_command": args.build_command,
        "output_directory": args.output_dir,
        "node_version": args.node_version,
        "package_manager": args.package_manager,
    }
    data = {name: value for name, value in data.items() if value is not None}
    env = _build_env(args.env)
    if env:
        data["env"] = env
    if args.clean:
        data["clean"] = True
    try:
        BuildSettings.from_dict(data)
    except InvalidRequest as exc:
        setting = (exc.field or "").removeprefix("build.").split(".", 1)[0]
        flag = _BUILD_FLAGS.get(setting)
        raise UsageError(f"{flag}: {exc}" if flag else str(exc)) from None
    return data


def _submit(args: argparse.Namespace, client: ApiClient, progress: TextIO) -> dict[str, Any]:
    from deploy_platform.source.archive.pack import pack_directory

    source: str = args.source
    build = build_settings(args)
    directory = Path(source)
    if directory.is_dir():
        project = _check_project(args.project) if args.project else default_project_name(source)
        with tempfile.TemporaryDirectory(prefix="deploy-platform-") as tmp:
            archive = Path(tmp) / "source.tar.gz"
            try:
                stats = pack_directory(directory, archive, exclude=PACK_EXCLUDE)
            except (DeploymentFailed, OSError) as exc:
                raise UsageError(f"cannot pack {source}: {exc}") from None
            _say(
                progress,
                f"Uploading {directory.resolve()} as project {project} "
                f"({stats.files} files, {human_bytes(stats.bytes)}, "
                f"{human_bytes(archive.stat().st_size)} packed)",
            )
            return client.deploy_archive(archive, project, args.ref, build)
    if directory.exists():
        raise UsageError(f"{source} is a file; give a directory or a git URL (https://...)")
    if not _looks_like_url(source):
        raise UsageError(
            f"{source} is neither an existing directory nor a git URL; "
            "give a directory or an https:// repository URL"
        )
    project = _check_project(args.project) if args.project else default_project_name(source)
    ref_note = f" (ref {args.ref})" if args.ref else ""
    _say(progress, f"Deploying {source}{ref_note} as project {project}")
    return client.deploy_git(source, project, args.ref, build)


def _check_project(name: str) -> str:
    try:
        return validate_project_name(name)
    except InvalidName as exc:
        raise UsageError(f"--project: {exc}") from None


def _follow(
    client: ApiClient, record: dict[str, Any], timeout: float, progress: TextIO
) -> tuple[dict[str, Any], bool]:
    """Poll until ready or failed, printing each stage once; (record, finished)."""
    shown: set[str] = set()
    started = time.monotonic()
    last_change = started
    lost_contact = False

    def show_new_stages(current: dict[str, Any]) -> bool:
        stamps: dict[str, float] = current.get("timestamps") or {}
        queued_at = stamps.get("queued")
        new = sorted(
            (at, name) for name, at in stamps.items() if name not in shown and name in STAGES
        )
        for at, name in new:
            shown.add(name)
            elapsed = at - queued_at if queued_at is not None else time.monotonic() - started
            _say(progress, stage_line(name, max(elapsed, 0.0)))
        return bool(new)

    waiting_for: str | None = None

    def show_waiting(current: dict[str, Any]) -> bool:
        # An infrastructure fault is waited out, not failed: say what the wait is for.
        nonlocal waiting_for
        line = retrying_line(current)
        if line == waiting_for:
            return False
        waiting_for = line
        if line:
            _say(progress, f"  {line}")
        return True

    show_new_stages(record)
    while record.get("status") not in ("ready", "failed"):
        now = time.monotonic()
        if now - started > timeout:
            return record, False
        if now - last_change > HEARTBEAT_SECONDS:
            _say(progress, stage_line(f"still {record.get('status')}", now - started))
            last_change = now
        time.sleep(POLL_SECONDS)
        try:
            record = client.deployment(str(record["id"]))
        except ApiUnreachable as exc:
            # The deployment goes on without us: an API restart must not end the wait.
            if not lost_contact:
                _say(progress, f"  lost contact with the API ({exc}); retrying")
            lost_contact = True
            continue
        lost_contact = False
        if show_new_stages(record) | show_waiting(record):
            last_change = time.monotonic()
    return record, True


def _run_deploy(args: argparse.Namespace) -> int:
    client = _client(args)
    # Scripts capture stdout: with --json or --no-wait it holds only the answer.
    progress = sys.stderr if args.json or args.no_wait else sys.stdout
    record = _submit(args, client, progress)
    deployment_id = str(record["id"])
    commit = f" at commit {str(record['commit'])[:12]}" if record.get("commit") else ""
    if args.no_wait:
        if args.json:
            _say(sys.stdout, json.dumps(record, indent=2, sort_keys=True))
        else:
            _say(sys.stdout, deployment_id)
            _say(
                sys.stderr,
                f"Queued deployment {deployment_id}{commit}; "
                f"follow it with `deploy-platform status {deployment_id}`",
            )
        return EXIT_OK
    _say(progress, f"Queued deployment {deployment_id}{commit}")
    record, finished = _follow(client, record, args.timeout, progress)
    if args.json:
        _say(sys.stdout, json.dumps(record, indent=2, sort_keys=True))
    if not finished:
        _say(
            sys.stderr,
            f"Timed out after {args.timeout:g}s; deployment {deployment_id} is still "
            f"{record.get('status')}. "
            f"Check it later with `deploy-platform status {deployment_id}`.",
        )
        return EXIT_TIMEOUT
    if record.get("status") == "failed":
        _say(
            sys.stderr,
            f"Deployment {deployment_id} failed: {record.get('error') or 'no reason recorded'}",
        )
        return EXIT_FAILED
    total = (record.get("durations") or {}).get("total")
    took = f" in {total:.1f}s" if isinstance(total, int | float) else ""
    _say(progress, f"Ready{took}: {format_transfer(record) or 'published'}")
    for line in format_urls(record.get("urls") or {}):
        _say(progress, line)
    return EXIT_OK


def _run_status(args: argparse.Namespace) -> int:
    if not is_deployment_id(args.id):
        raise UsageError(
            f"{args.id!r} is not a deployment id (12 characters of a-z and 2-7, "
            "as printed by `deploy-platform deploy`)"
        )
    record = _client(args).deployment(args.id)
    if args.json:
        _say(sys.stdout, json.dumps(record, indent=2, sort_keys=True))
    else:
        for line in format_record(record):
            _say(sys.stdout, line)
    return EXIT_OK


def _check_hostname(raw: str) -> str:
    try:
        return normalize_hostname(raw)
    except InvalidName as exc:
        raise UsageError(str(exc)) from None


def _run_domains(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.domains_command == "add":
        hostname = _check_hostname(args.hostname)
        answer = client.add_domain(hostname, _check_project(args.project))
        if args.json:
            _say(sys.stdout, json.dumps(answer, indent=2, sort_keys=True))
        else:
            _say(sys.stdout, f"{answer['hostname']} serves project {answer['project']}")
        return EXIT_OK
    if args.domains_command == "remove":
        hostname = _check_hostname(args.hostname)
        answer = client.remove_domain(hostname)
        if args.json:
            _say(sys.stdout, json.dumps(answer, indent=2, sort_keys=True))
        else:
            served = f"it served project {answer['project']}; " if answer.get("project") else ""
            _say(sys.stdout, f"{answer['hostname']} removed ({served}deployments are unchanged)")
        return EXIT_OK
    project = _check_project(args.project) if args.project else None
    answer = client.domains(project)
    domains: list[dict[str, Any]] = list(answer.get("domains") or [])
    if args.json:
        _say(sys.stdout, json.dumps(answer, indent=2, sort_keys=True))
    elif not domains:
        _say(sys.stdout, "no custom domains" + (f" for project {project}" if project else ""))
    else:
        width = max(len("HOSTNAME"), *(len(str(d["hostname"])) for d in domains))
        _say(sys.stdout, f"{'HOSTNAME'.ljust(width)}  PROJECT")
        for domain in domains:
            _say(sys.stdout, f"{str(domain['hostname']).ljust(width)}  {domain['project']}")
    return EXIT_OK


def _refusal_message(exc: ApiRefused) -> str:
    if exc.status == 401:
        return (
            f"the API refused the token: {exc.message}. Set DP_API_TOKEN, or DP_STATE_DIR to "
            "the state directory of `deploy-platform up` (it holds the api-token file)"
        )
    field = f" [{exc.field}]" if exc.field else ""
    return f"{exc.message}{field}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        handler = getattr(args, "handler", None)
        if handler is not None:  # a command registered by its own module
            return int(handler(args))
        if args.command == "up":
            from deploy_platform.processes.up import run_up

            return run_up(args)
        if args.command == "deploy":
            return _run_deploy(args)
        if args.command == "domains":
            return _run_domains(args)
        if args.command == "project":
            from deploy_platform.cli.projects import run_project

            return run_project(args)
        return _run_status(args)
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


if __name__ == "__main__":
    raise SystemExit(main())
