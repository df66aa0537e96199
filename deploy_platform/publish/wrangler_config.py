"""The edge Worker's `wrangler.toml`, generated from the resource names.

`edge-worker/wrangler.toml` is this module's output for the example
installation (customer `acme`, project `pages`, environments prod and staging,
zone `acme.example`); the file's first line is the command that writes it:

    deploy-platform names --wrangler --customer acme --project pages \\
        --environment prod --environment staging --zone acme.example > edge-worker/wrangler.toml

and `tests/cli/test_names.py` runs that command and compares, so the file and
the naming rules cannot drift apart. An installation runs the same command with
its own customer, project, environments and zone.

The first environment is wrangler's top level (`wrangler deploy`); each other
one is an `[env.<name>]` section (`wrangler deploy --env staging`). Wrangler
does not inherit `vars`, `routes` and bindings into environments, so each
section repeats them with its own names. Base domains default to
`<project>.<zone>` for prod and `<environment>-<project>.<zone>` otherwise
(`pages.acme.example`, `staging-pages.acme.example`); `base_domains` overrides.
The edge-origin's host is `<origin label>.<zone>`, outside every base domain
(the Worker would otherwise route requests for its origin to itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from deploy_platform.contracts.names import InvalidName, normalize_hostname
from deploy_platform.contracts.resource_names import (
    NamingConfig,
    ResourceNameError,
    bucket_name,
    kv_domains_namespace_title,
    kv_namespace_title,
    origin_label,
    worker_name,
)

__all__ = ["COMPATIBILITY_DATE", "WranglerConfig", "render_wrangler"]

COMPATIBILITY_DATE = "2025-09-01"


@dataclass(frozen=True)
class WranglerConfig:
    """What the generated file needs beyond the names; checked when made."""

    customer: str
    project: str
    environments: tuple[str, ...]
    zone: str
    base_domains: Mapping[str, str] = field(default_factory=dict)
    #: The command line written into the file's first line (how to regenerate it).
    command: str = ""

    def __post_init__(self) -> None:
        if not self.environments:
            raise ResourceNameError("environment", "give at least one environment")
        if len(set(self.environments)) != len(self.environments):
            raise ResourceNameError("environment", "an environment is given more than once")
        for environment in self.environments:
            NamingConfig(self.customer, self.project, environment)
        object.__setattr__(self, "zone", _hostname("zone", self.zone))
        unknown = sorted(set(self.base_domains) - set(self.environments))
        if unknown:
            raise ResourceNameError(
                "environment",
                f"a base domain is given for {', '.join(unknown)}, which is not among the "
                f"environments ({', '.join(self.environments)})",
            )
        domains = {env: self._default_domain(env) for env in self.environments}
        domains.update(
            {env: _hostname(f"base domain of {env}", d) for env, d in self.base_domains.items()}
        )
        object.__setattr__(self, "base_domains", domains)
        for environment in self.environments:
            origin = self.origin_host(environment)
            for base in domains.values():
                if origin == base or origin.endswith("." + base):
                    raise ResourceNameError(
                        "name",
                        f"the edge-origin host {origin} is under the base domain {base}, so the "
                        "Worker would route its own origin requests to itself; give base "
                        "domains below the zone (like pages.<zone>)",
                    )

    def _default_domain(self, environment: str) -> str:
        label = self.project if environment == "prod" else f"{environment}-{self.project}"
        return f"{label}.{self.zone}"

    def naming(self, environment: str) -> NamingConfig:
        return NamingConfig(self.customer, self.project, environment)

    def base_domain(self, environment: str) -> str:
        return self.base_domains[environment]

    def origin_host(self, environment: str) -> str:
        return f"{origin_label(self.naming(environment))}.{self.zone}"


def _hostname(what: str, value: str) -> str:
    try:
        return normalize_hostname(value)
    except InvalidName as exc:
        raise ResourceNameError("name", f"{what}: {exc}") from None


def _q(text: str) -> str:
    """A TOML basic string; every value here is a checked name or host (no quotes, no escapes)."""
    return f'"{text}"'


def _top_level(config: WranglerConfig, environment: str) -> list[str]:
    names = config.naming(environment)
    base = config.base_domain(environment)
    bucket = bucket_name(names)
    return [
        f"name = {_q(worker_name(names))}",
        'main = "src/index.js"',
        f"compatibility_date = {_q(COMPATIBILITY_DATE)}",
        "workers_dev = false",
        "",
        "# Every *.BASE_DOMAIN host is routed to this Worker; add a route (or Custom",
        "# Domain) for each custom domain mapped with `deploy-platform domains add`.",
        f"routes = [{{ pattern = {_q(f'*.{base}/*')}, zone_name = {_q(config.zone)} }}]",
        "",
        "[vars]",
        f"BASE_DOMAIN = {_q(base)}",
        "# Optional; the defaults are shown.",
        '# ALIAS_TTL_SECONDS = "1"',
        '# NEGATIVE_TTL_SECONDS = "1"',
        '# MANIFEST_CACHE_BYTES = "33554432"   # estimated memory for parsed manifests per isolate'
        " (32 MiB,",
        "#                                     # a quarter of its 128 MB; a 20,000-file manifest"
        " weighs ~24 MB)",
        '# MANIFEST_CACHE_ENTRIES = ""         # optional extra cap on their number'
        " (default: none)",
        '# BODY_CACHE_ITEM_BYTES = "262144"',
        '# ANSWER_CACHE_SECONDS = "3600"   # whole answers per deployment id in the Cache API;'
        ' "0" = off',
        "# Optional: the Python edge-origin answers what R2 lacks (see src/origin.js). Its host"
        " must",
        "# not be under BASE_DOMAIN, and it must list this Worker's egress in"
        " DP_EDGE_TRUSTED_PROXIES.",
        f"# ORIGIN_URL = {_q('https://' + config.origin_host(environment))}",
        '# SKEW_GRACE_SECONDS = "43200"',
        "",
        f"# The bucket the publisher writes (DP_STORAGE_URL=s3://{bucket} on R2's S3 API).",
        "[[r2_buckets]]",
        'binding = "SITES"',
        f"bucket_name = {_q(bucket)}",
        "",
        "# Optional: alias name -> the same JSON pointer as aliases/<name>.json, for faster"
        " lookups.",
        "# The publisher writes it when DP_CF_ACCOUNT_ID, DP_CF_KV_NAMESPACE_ID (this id) and",
        "# DP_CF_API_TOKEN are set (deploy_platform/publish/cloudflare_kv.py). Create the",
        f"# namespace with `wrangler kv namespace create {kv_namespace_title(names)}`.",
        "# [[kv_namespaces]]",
        '# binding = "ALIASES"',
        f'# id = "<id of the {kv_namespace_title(names)} namespace>"',
        "",
        "# Optional: hostname -> the same JSON as domains/<hostname>.json (custom domains). The"
        " control",
        "# API writes it when DP_CF_KV_DOMAINS_NAMESPACE_ID (this id) is set as well as the three"
        " above.",
        "# [[kv_namespaces]]",
        '# binding = "DOMAINS"',
        f'# id = "<id of the {kv_domains_namespace_title(names)} namespace>"',
    ]


def _environment_section(config: WranglerConfig, environment: str) -> list[str]:
    names = config.naming(environment)
    base = config.base_domain(environment)
    kv = kv_namespace_title(names)
    domains = kv_domains_namespace_title(names)
    origin = f"https://{config.origin_host(environment)}"
    return [
        f"[env.{environment}]",
        f"name = {_q(worker_name(names))}",
        f"routes = [{{ pattern = {_q(f'*.{base}/*')}, zone_name = {_q(config.zone)} }}]",
        f"vars = {{ BASE_DOMAIN = {_q(base)} }}",
        f'r2_buckets = [{{ binding = "SITES", bucket_name = {_q(bucket_name(names))} }}]',
        f'# kv_namespaces = [{{ binding = "ALIASES", id = "<id of the {kv} namespace>" }},',
        f'#                  {{ binding = "DOMAINS", id = "<id of the {domains} namespace>" }}]',
        f"# vars = {{ BASE_DOMAIN = {_q(base)}, ORIGIN_URL = {_q(origin)} }}",
    ]


def render_wrangler(config: WranglerConfig) -> str:
    """The whole `wrangler.toml` text for `config`, ending with a newline."""
    first, *others = config.environments
    lines = [
        f"# Generated by `{config.command}`;" if config.command else "# Generated;",
        "# change the command's flags and run it again rather than editing this file.",
        "# Resources are named {customer}-{project}-{environment}-{component}"
        " (deploy_platform/contracts/resource_names.py).",
        *_top_level(config, first),
    ]
    for environment in others:
        lines += ["", *_environment_section(config, environment)]
    return "\n".join(lines) + "\n"
