"""`deploy-platform domains add|list|remove`: custom domains that follow a project's production."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deploy_platform.cli import common
from deploy_platform.contracts.text_format import format_table

__all__ = ["add_parser", "run_domains"]

# Command -> its help line, then its description's paragraphs.
_TEXTS = {
    "domains": (
        "map custom domains (www.example.com) to projects",
        "A custom domain serves its project's production deployment and follows "
        "it: every production deploy and rollback moves the domain too. Point the "
        "domain's DNS at the edge (a CNAME to <project>.<base domain>, or the "
        "edge's address). Names under the platform's base domain are its own and "
        "cannot be mapped. Removing a domain leaves every deployment as it is.",
    ),
    "add": (
        "map a hostname to a project",
        "Map HOSTNAME to PROJECT's production deployment.",
    ),
    "list": (
        "show the mapped domains",
        "Show every mapped custom domain and its project.",
    ),
    "remove": (
        "unmap a hostname (deployments stay)",
        "Stop serving HOSTNAME; the project and its deployments stay as they are.",
    ),
}


def add_parser(commands: Any) -> None:
    domains = common.add_command(commands, "domains", *_TEXTS["domains"])
    actions = domains.add_subparsers(dest="domains_command", required=True, metavar="ACTION")
    add = common.add_command(actions, "add", *_TEXTS["add"])
    add.add_argument("hostname", metavar="HOSTNAME", help="for example www.example.com")
    add.add_argument("--project", required=True, help="the project the domain serves")
    listing = common.add_command(actions, "list", *_TEXTS["list"])
    listing.add_argument("--project", help="only this project's domains")
    remove = common.add_command(actions, "remove", *_TEXTS["remove"])
    remove.add_argument("hostname", metavar="HOSTNAME")
    for action in (add, listing, remove):
        action.add_argument("--api", metavar="URL", help=common.API_HELP)
        action.add_argument("--json", action="store_true", help="print the answer as JSON")
    domains.set_defaults(handler=run_domains)


def run_domains(args: argparse.Namespace) -> int:
    client = common.api_client(args)
    if args.domains_command == "add":
        hostname = common.check_hostname(args.hostname)
        answer = client.add_domain(hostname, common.check_project(args.project))
        if args.json:
            common.say_json(answer)
        else:
            common.say(sys.stdout, f"{answer['hostname']} serves project {answer['project']}")
        return common.EXIT_OK
    if args.domains_command == "remove":
        hostname = common.check_hostname(args.hostname)
        answer = client.remove_domain(hostname)
        if args.json:
            common.say_json(answer)
        else:
            served = f"it served project {answer['project']}; " if answer.get("project") else ""
            common.say(
                sys.stdout, f"{answer['hostname']} removed ({served}deployments are unchanged)"
            )
        return common.EXIT_OK
    project = common.check_project(args.project) if args.project else None
    answer = client.domains(project)
    domains: list[dict[str, Any]] = list(answer.get("domains") or [])
    if args.json:
        common.say_json(answer)
    elif not domains:
        common.say(sys.stdout, "no custom domains" + (f" for project {project}" if project else ""))
    else:
        rows = [[str(domain["hostname"]), str(domain["project"])] for domain in domains]
        common.say_lines(format_table(["HOSTNAME", "PROJECT"], rows))
    return common.EXIT_OK
