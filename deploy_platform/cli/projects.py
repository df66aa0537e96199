"""`deploy-platform project create|show|update|delete|list`: a project's settings.

The settings and their rules are the API's (`deploy_platform.projects.model`);
this module turns flags into the API's JSON and answers into lines. Flags are
checked here only as far as they can be without the server (names, build
settings), so a typo costs no request; everything else is the API's refusal,
printed with its message (exit code 2).

Secrets: build variable values are never printed (`show` lists names), and the
webhook secret is printed only when it is made: by `create` with --repo, by the
`update` that first sets a repository, and by `update --rotate-webhook-secret`.
A project without a repository has none (nothing could send it a webhook).

Every deployed name is a project (the first deploy stores it), so `list` and
`show` know every name `rollback` and `aliases` do.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deploy_platform.cli import common
from deploy_platform.cli.build_flags import add_build_flags, build_settings
from deploy_platform.cli.project_view import format_project
from deploy_platform.contracts.text_format import format_table

__all__ = ["add_parser", "run_project", "format_project"]

# `--reset` choices: the flag a build setting is set with -> the setting.
_RESETTABLE = {
    "root-dir": "root_directory",
    "install-command": "install_command",
    "build-command": "build_command",
    "output-dir": "output_directory",
    "node-version": "node_version",
    "package-manager": "package_manager",
}


_REPLACES = "(replaces the stored list; "

# Command -> its help line, then its description's paragraphs.
_TEXTS = {
    "project": (
        "create, show, change, delete and list projects",
        "A project holds what every deployment of a repository shares: the "
        "repository, the production branch, which branches get previews, build "
        "settings and variables, and the secret GitHub signs webhooks with.",
        "Pushed branches are deployed by these rules: a branch matching an "
        "--exclude pattern is not; the production branch goes to production; a "
        "branch matching an --include pattern gets a preview; others are not "
        "deployed. Build variable values are never shown back.",
    ),
    "create": (
        "create a project (with --repo, prints its webhook secret once)",
        "Create project NAME. With --repo, the answer includes the webhook secret, shown "
        "this once: put it in the Secret field of the repository's GitHub webhook. A "
        "project without a repository (deployed by upload) has no secret until a "
        "repository is set with `project update NAME --repo URL`, which prints it once.",
        "Deploying a name that is not a project yet creates it too (`deploy`).",
    ),
    "show": (
        "show a project's settings and domains",
        "Show project NAME: repository, branches, build settings, build variable names "
        "(never values), custom domains and the Dagster UI's link to its runs.",
    ),
    "update": (
        "change a project's settings, or rotate its webhook secret",
        "Change the settings given; the others stay. --env sets a variable, --unset-env "
        "removes one, --reset goes back to detecting a build setting. "
        "--rotate-webhook-secret makes a new secret (printed once; the old one stops "
        "working at once).",
    ),
    "delete": (
        "delete a project's settings (deployments keep serving)",
        "Delete project NAME's settings and webhook secret: pushes no longer deploy it. "
        "Its deployments are immutable and stay; its URLs and custom domains keep "
        "serving what they served (remove a domain with `deploy-platform domains "
        "remove`). Creating the project again picks them up.",
    ),
    "list": (
        "list the projects",
        "List every project: created with `project create` or by a first deploy "
        "(source git or upload).",
    ),
}


def _add_setting_flags(parser: argparse.ArgumentParser, updating: bool) -> None:
    git = parser.add_argument_group("git")
    git.add_argument(
        "--repo",
        metavar="URL",
        help="the repository's http(s) URL, e.g. https://github.com/owner/site.git",
    )
    if updating:
        git.add_argument(
            "--no-repo",
            action="store_true",
            help="forget the repository (the project is then deployed by upload only)",
        )
    git.add_argument(
        "--production-branch",
        metavar="BRANCH",
        help="the branch whose deployments go to production"
        + (
            ""
            if updating
            else " (default: the repository's default branch, its HEAD; main when the "
            "repository does not say)"
        ),
    )
    git.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="a branch pattern that gets preview deployments; repeat for more; * matches "
        "any characters, / included "
        + (_REPLACES if updating else "(default: main, feature/*, bugfix/*; ")
        + '--include "" for none)',
    )
    git.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERN",
        help="a branch pattern that is never deployed, checked before --include; repeat "
        "for more "
        + (_REPLACES if updating else "(default: dependabot/*, renovate/*; ")
        + '--exclude "" for none)',
    )
    forks = git.add_mutually_exclusive_group()
    forks.add_argument(
        "--build-forks",
        dest="build_forks",
        action="store_const",
        const=True,
        help="build pull requests from forks (their code runs with the build variables)",
    )
    forks.add_argument(
        "--no-build-forks",
        dest="build_forks",
        action="store_const",
        const=False,
        help="do not build pull requests from forks (the default)",
    )
    build = parser.add_argument_group(
        "build settings",
        "Defaults for every deployment of the project; a deploy's own flags win.",
    )
    add_build_flags(build)
    if updating:
        build.add_argument(
            "--unset-env",
            action="append",
            default=[],
            metavar="NAME",
            help="remove a build variable; repeat for more",
        )
        build.add_argument(
            "--reset",
            action="append",
            default=[],
            choices=sorted(_RESETTABLE),
            metavar="SETTING",
            help="go back to detecting a build setting: "
            + ", ".join(sorted(_RESETTABLE))
            + "; repeat for more",
        )
    parser.set_defaults(clean=False)  # build_settings reads it; a project has no --clean


def add_parser(commands: Any) -> None:
    project = common.add_command(commands, "project", *_TEXTS["project"])
    actions = project.add_subparsers(dest="project_command", required=True, metavar="ACTION")
    create = common.add_command(actions, "create", *_TEXTS["create"])
    show = common.add_command(actions, "show", *_TEXTS["show"])
    update = common.add_command(actions, "update", *_TEXTS["update"])
    delete = common.add_command(actions, "delete", *_TEXTS["delete"])
    listing = common.add_command(actions, "list", *_TEXTS["list"])
    for action in (create, show, update, delete):
        action.add_argument("name", metavar="NAME", help="the project's name")
    _add_setting_flags(create, updating=False)
    _add_setting_flags(update, updating=True)
    update.add_argument(
        "--rotate-webhook-secret",
        action="store_true",
        help="make a new webhook secret and print it once",
    )
    for action in (create, show, update, delete, listing):
        action.add_argument("--api", metavar="URL", help=common.API_HELP)
        action.add_argument("--json", action="store_true", help="print the answer as JSON")
    project.set_defaults(handler=run_project)


def _patterns(values: list[str] | None) -> list[str] | None:
    return None if values is None else [value for value in values if value]


def _settings(args: argparse.Namespace, updating: bool) -> dict[str, Any]:
    """The API's project fields from the flags (only those given)."""
    data: dict[str, Any] = {}
    if args.repo is not None:
        data["repo_url"] = args.repo
    if updating and args.no_repo:
        if args.repo is not None:
            raise common.UsageError("--repo and --no-repo contradict each other; give one")
        data["repo_url"] = None
    if args.production_branch is not None:
        data["production_branch"] = args.production_branch
    branches = {
        name: patterns
        for name, patterns in (
            ("include", _patterns(args.include)),
            ("exclude", _patterns(args.exclude)),
        )
        if patterns is not None
    }
    if branches:
        data["branches"] = branches
    if args.build_forks is not None:
        data["build_forks"] = args.build_forks
    build = build_settings(args)
    if updating:
        for flag in args.reset:
            setting = _RESETTABLE[flag]
            if setting in build:
                raise common.UsageError(
                    f"--reset {flag} and --{flag} contradict each other; give one"
                )
            build[setting] = None
        env: dict[str, Any] = dict(build.get("env") or {})
        for name in args.unset_env:
            if name in env:
                raise common.UsageError(
                    f"--unset-env {name} and --env {name} contradict each other"
                )
            env[name] = None
        if env:
            build["env"] = env
    if build:
        data["build"] = build
    return data


def _print_secret(secret: str, payload_url: str) -> None:
    common.say(sys.stdout)
    common.say(sys.stdout, f"Webhook secret: {secret}")
    common.say(
        sys.stdout,
        "It is shown this once: put it in the Secret field of the repository's GitHub "
        "webhook (content type application/json).",
    )
    common.say(
        sys.stdout,
        f"Payload URL: {payload_url} (this project's own URL: its deliveries are checked "
        "before they are read; use the address at which GitHub reaches the control API); "
        "events: pushes and pull requests.",
    )


def _run_update(args: argparse.Namespace, name: str) -> int:
    client = common.api_client(args)
    changes = _settings(args, updating=True)
    if not changes and not args.rotate_webhook_secret:
        raise common.UsageError(
            "nothing to change: give a setting (see `deploy-platform project update --help`) "
            "or --rotate-webhook-secret"
        )
    answer = client.update_project(name, changes) if changes else client.project(name)
    # A repository given to a project without a secret makes one: shown this once.
    secret: str | None = answer.pop("webhook_secret", None)
    if args.rotate_webhook_secret:
        secret = str(client.rotate_webhook_secret(name)["webhook_secret"])
    if args.json:
        common.say_json({**answer, "webhook_secret": secret} if secret else answer)
        return common.EXIT_OK
    common.say_lines(format_project(answer))
    if secret:
        _print_secret(secret, client.base_url + str(answer.get("webhook_path")))
        common.say(sys.stdout, "The previous secret no longer verifies deliveries.")
    return common.EXIT_OK


def _run_list(args: argparse.Namespace) -> int:
    answer = common.api_client(args).projects()
    projects: list[dict[str, Any]] = list(answer.get("projects") or [])
    if args.json:
        common.say_json(answer)
        return common.EXIT_OK
    if not projects:
        common.say(
            sys.stdout, "no projects (create one with `deploy-platform project create NAME`)"
        )
        return common.EXIT_OK
    rows = [
        (
            str(p["name"]),
            str(p.get("source") or ("git" if p.get("repo_url") else "upload")),
            str(p.get("production_branch")),
            str(p.get("repo_url") or "-"),
            ", ".join(p.get("domains") or []) or "-",
        )
        for p in projects
    ]
    header = ("NAME", "SOURCE", "PRODUCTION", "REPOSITORY", "DOMAINS")
    common.say_lines(format_table(header, rows))
    return common.EXIT_OK


def run_project(args: argparse.Namespace) -> int:
    command = args.project_command
    if command == "list":
        return _run_list(args)
    name = common.check_project(args.name, flag=None)
    if command == "update":
        return _run_update(args, name)
    client = common.api_client(args)
    if command == "create":
        answer = client.create_project({"name": name, **_settings(args, updating=False)})
        if args.json:
            common.say_json(answer)
            return common.EXIT_OK
        common.say_lines(format_project(answer))
        origin = answer.get("production_branch_from")
        if origin and origin != "request":
            common.say(sys.stdout, f"production branch {answer.get('production_branch')}: {origin}")
        if answer.get("webhook_secret"):
            _print_secret(
                str(answer["webhook_secret"]), client.base_url + str(answer.get("webhook_path"))
            )
        return common.EXIT_OK
    if command == "show":
        answer = client.project(name)
        if args.json:
            common.say_json(answer)
        else:
            common.say_lines(format_project(answer))
        return common.EXIT_OK
    answer = client.delete_project(name)
    if args.json:
        common.say_json(answer)
        return common.EXIT_OK
    domains = list(answer.get("domains") or [])
    kept = f"; custom domains still mapped: {', '.join(domains)}" if domains else ""
    common.say(
        sys.stdout,
        f"project {name} deleted: its settings and webhook secret are gone; its "
        f"deployments and URLs keep serving{kept}",
    )
    return common.EXIT_OK
