"""`deploy-platform names`: the resource names of an installation, and its wrangler.toml.

    deploy-platform names --customer acme --project pages --environment prod
    deploy-platform names --environment prod --environment staging --json
    deploy-platform names --wrangler --customer acme --project pages \\
        --environment prod --environment staging --zone acme.example > edge-worker/wrangler.toml

Customer, project and environment come from the flags, else from DP_CUSTOMER,
DP_PROJECT and DP_ENVIRONMENT (the variables the platform's own processes read,
`deploy_platform.settings.registry`); `--environment` may be repeated. Nothing is
contacted: this only computes and checks names (`deploy_platform.contracts.resource_names`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from deploy_platform.cli import common
from deploy_platform.contracts.resource_names import (
    COMPONENTS,
    ENV_VARS,
    ENVIRONMENTS,
    NamingConfig,
    ResourceNameError,
    all_names,
)
from deploy_platform.publish.wrangler_config import WranglerConfig, render_wrangler

__all__ = ["add_parser", "run_names"]

# Output key -> where the name goes, for the text output.
_USE = {
    "worker": "wrangler.toml `name`",
    "bucket": "DP_STORAGE_URL=s3://<bucket>",
    "object_prefix": "or DP_STORAGE_URL=s3://<shared bucket>/<prefix>",
    "kv_namespace": "wrangler kv namespace create <title> (ALIASES)",
    "kv_domains_namespace": "wrangler kv namespace create <title> (DOMAINS)",
    "origin_host_label": "the edge-origin's host: <label>.<zone>",
    "redis_prefix": "DP_REDIS_PREFIX (the default when unset)",
}
_TITLES = {key: service.title for key, _component, service in COMPONENTS}


def add_parser(commands: Any) -> None:
    names = commands.add_parser(
        "names",
        help="print the resource names of an installation (buckets, Worker, KV, prefixes)",
        description=(
            "Print the names the platform gives its resources, "
            "{customer}-{project}-{environment}-{component}, after checking them against "
            "each service's rules (S3/R2 buckets: 3-63 characters; Cloudflare Worker "
            "names and host labels: at most 63; KV namespace titles: at most 512). "
            "Customer and project are lowercase letters and digits; environment is "
            f"{', '.join(ENVIRONMENTS)}. Nothing is contacted or created."
        ),
        epilog=(
            "With --wrangler, print the edge Worker's wrangler.toml instead: the first "
            "environment at the top level, each other one as [env.<name>]. "
            "edge-worker/wrangler.toml is generated this way; its first line is the command."
        ),
    )
    names.add_argument(
        "--customer", help=f"customer part, e.g. acme (default: ${ENV_VARS['customer']})"
    )
    names.add_argument(
        "--project",
        help="project part: the installation, not a site, e.g. pages "
        f"(default: ${ENV_VARS['project']})",
    )
    names.add_argument(
        "--environment",
        action="append",
        metavar="ENV",
        help=f"{', '.join(ENVIRONMENTS)}; repeat for several (default: ${ENV_VARS['environment']})",
    )
    output = names.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the names as JSON")
    output.add_argument(
        "--wrangler", action="store_true", help="print the Worker's wrangler.toml (needs --zone)"
    )
    names.add_argument(
        "--zone",
        help="Cloudflare zone the Worker's routes are in, e.g. acme.example; also adds the "
        "base domain and edge-origin host to the text and JSON output",
    )
    names.add_argument(
        "--base-domain",
        action="append",
        default=[],
        metavar="ENV=DOMAIN",
        help="base domain of an environment (default: <project>.<zone> for prod, "
        "<env>-<project>.<zone> otherwise); repeat for several",
    )
    names.set_defaults(handler=run_names)


def _part(args: argparse.Namespace, part: str) -> str:
    value: str | None = getattr(args, part)
    if value is None:
        value = os.environ.get(ENV_VARS[part], "")
    if not value:
        raise common.UsageError(f"give --{part} or set {ENV_VARS[part]}")
    return value


def _environments(args: argparse.Namespace) -> tuple[str, ...]:
    if args.environment:
        return tuple(args.environment)
    value = os.environ.get(ENV_VARS["environment"], "")
    if not value:
        raise common.UsageError(
            f"give --environment ({', '.join(ENVIRONMENTS)}; repeat for several) "
            f"or set {ENV_VARS['environment']}"
        )
    return (value,)


def _base_domains(items: list[str]) -> dict[str, str]:
    domains: dict[str, str] = {}
    for item in items:
        environment, has_domain, domain = item.partition("=")
        if not has_domain or not environment or not domain:
            raise common.UsageError(
                f"--base-domain {item!r}: give ENV=DOMAIN, e.g. prod=pages.acme.example"
            )
        if environment in domains:
            raise common.UsageError(f"--base-domain for {environment} is given more than once")
        domains[environment] = domain
    return domains


def _command_line(
    customer: str, project: str, environments: tuple[str, ...], zone: str, domains: dict[str, str]
) -> str:
    """The canonical command that writes this configuration, for the generated first line."""
    words = ["deploy-platform names --wrangler", f"--customer {customer} --project {project}"]
    words += [f"--environment {env}" for env in environments]
    words.append(f"--zone {zone}")
    words += [f"--base-domain {env}={domain}" for env, domain in domains.items()]
    return " ".join(words)


def _collect(args: argparse.Namespace) -> tuple[str, str, tuple[str, ...]]:
    customer, project = _part(args, "customer"), _part(args, "project")
    return customer, project, _environments(args)


def run_names(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ResourceNameError as exc:
        raise common.UsageError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    customer, project, environments = _collect(args)
    if len(set(environments)) != len(environments):
        raise common.UsageError("an environment is given more than once")
    base_domains = _base_domains(args.base_domain)
    if args.wrangler and not args.zone:
        raise common.UsageError("--wrangler needs --zone, the Cloudflare zone of the routes")
    if base_domains and not args.zone:
        raise common.UsageError("--base-domain needs --zone (the zone the domains are in)")
    wrangler = None
    if args.zone:
        command = _command_line(customer, project, environments, args.zone, base_domains)
        wrangler = WranglerConfig(customer, project, environments, args.zone, base_domains, command)
    configs = {env: NamingConfig(customer, project, env) for env in environments}
    if args.wrangler and wrangler is not None:
        sys.stdout.write(render_wrangler(wrangler))
        return common.EXIT_OK
    report: dict[str, Any] = {"customer": customer, "project": project, "environments": {}}
    for env, config in configs.items():
        entry: dict[str, str] = all_names(config)
        if wrangler is not None:
            entry["base_domain"] = wrangler.base_domain(env)
            entry["origin_host"] = wrangler.origin_host(env)
        report["environments"][env] = entry
    if args.json:
        print(json.dumps(report, indent=2))
        return common.EXIT_OK
    titles = {
        **_TITLES,
        "origin_host_label": "edge-origin host label",
        "base_domain": "base domain",
        "origin_host": "edge-origin host",
    }
    width = max(len(title) for title in titles.values())
    for index, (env, entry) in enumerate(report["environments"].items()):
        if index:
            print()
        print(f"{env} (customer {customer}, project {project})")
        name_width = max(len(name) for name in entry.values())
        for key, name in entry.items():
            line = f"  {titles[key].ljust(width)}  {name.ljust(name_width)}  {_USE.get(key, '')}"
            print(line.rstrip())
    return common.EXIT_OK
