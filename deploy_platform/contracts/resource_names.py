"""Resource names: `{customer}-{project}-{environment}-{component}`, checked in one place.

Every bucket, key prefix, Worker, KV namespace and host label the platform names
for an installation comes from here (`deploy-platform names` prints them, the
Worker's `wrangler.toml` is generated from them, `Settings` derives the Redis
prefix and checks the bucket with them). For customer `acme`, project `pages`:

    component  service                         prod name
    edge       Cloudflare Worker               acme-pages-prod-edge
    assets     S3 / R2 bucket                  acme-pages-prod-assets
    assets     object-store key prefix         acme-pages-prod-assets/  (in a shared bucket)
    aliases    Workers KV namespace title      acme-pages-prod-aliases
    domains    Workers KV namespace title      acme-pages-prod-domains
    origin     host label of the edge-origin   acme-pages-prod-origin
    state      Redis key prefix                acme-pages-prod-state:

"project" here is the installation (one platform serving many sites), not one
of the site projects deployed on it.

Rules, each with the error that names the part, the rule and the fix:
- customer, project and component are lowercase ASCII letters and digits, at
  least one. No hyphens inside a part: hyphens separate the parts, so every
  name splits back into exactly four (`acme-corp` would read as customer `acme`,
  project `corp`); `acmecorp` is the fix. Together the four parts are
  "lowercase letters, digits and single hyphens", never a leading, trailing or
  doubled hyphen.
- environment is one of `prod`, `staging`, `dev`.
- the whole name fits the service that holds it (`SERVICES`):
  * S3 and R2 buckets: 3-63 characters (four non-empty parts make at least 7,
    so only the maximum can bind); S3 forbids the prefixes `xn--`, `sthree-`,
    `amzn-s3-demo-` and the suffixes `-s3alias`, `--ol-s3`, `.mrap`, `--x-s3`,
    `--table-s3` (reserved for access points and other bucket types).
    Sources: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    and the Cloudflare API schema `r2_bucket_name` of R2's create-bucket call
    (3 to 64 characters of `[a-z0-9-]`, beginning and ending with a letter or
    digit); S3's 63 is the stricter limit and applies to both.
  * Cloudflare Worker names: lowercase letters, digits and dashes; at most 63,
    because the name becomes the DNS label `<worker>.<subdomain>.workers.dev`
    (https://developers.cloudflare.com/workers/configuration/routing/workers-dev/,
    RFC 1035 section 2.3.4). Preview aliases (`<alias>-<worker>`) must also fit 63.
  * Workers KV namespace titles: at most 512 characters (the Cloudflare API
    schema `workers-kv_namespace_title`, the `title` of the create-namespace call).
  * host labels (the edge-origin's host): at most 63 (RFC 1035 section 2.3.4).
  * Redis key prefixes: Redis keys are binary safe up to 512 MB
    (https://redis.io/docs/latest/develop/use/keyspace/); the platform's own
    limit is 200 characters, since every key repeats the prefix. The prefix
    ends with `:`, the separator of the keys under it (`deploy_platform.storage.redis_state`).
  * object-store key prefixes: an S3 key is at most 1024 bytes of UTF-8
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html);
    the prefix leaves `KEY_ROOM` bytes for the platform's longest keys.

A `NamingConfig` checks its parts and that every name of `COMPONENTS` fits its
service when it is made, so a configuration that exists names nothing invalid.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from deploy_platform.contracts.names import InvalidName

__all__ = [
    "ENVIRONMENTS",
    "ENV_VARS",
    "COMPONENTS",
    "SERVICES",
    "KEY_ROOM",
    "Service",
    "ResourceNameError",
    "NamingConfig",
    "resource_name",
    "worker_name",
    "bucket_name",
    "kv_namespace_title",
    "origin_label",
    "redis_prefix",
    "object_prefix",
    "all_names",
    "check_storage_url",
    "Placement",
    "placement",
]

ENVIRONMENTS = ("prod", "staging", "dev")
#: The environment variables of the naming configuration: all three, or none.
ENV_VARS = {"customer": "DP_CUSTOMER", "project": "DP_PROJECT", "environment": "DP_ENVIRONMENT"}
#: Room left after an object-store prefix for the platform's own keys (the longest,
#: `deployments/<id>/manifest.json` and `blobs/<sha256>.<variant>`, are under 100).
KEY_ROOM = 200

_PART_RE = re.compile(r"^[a-z0-9]+$")
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class ResourceNameError(InvalidName):
    """A naming part or a resource name that breaks a rule; the message says how to fix it.

    `part` is the part at fault (`customer`, `project`, `environment`,
    `component`) or `name` when only the whole name is (too long for its service).
    """

    def __init__(self, part: str, message: str, over: int = 0) -> None:
        super().__init__(message)
        self.part = part
        #: Characters over the service's limit (0 for the other rules).
        self.over = over


@dataclass(frozen=True)
class Service:
    """Where a name is used, and that service's limits on it."""

    title: str
    max_length: int
    s3_bucket: bool = False
    suffix: str = ""


BUCKET = Service("S3/R2 bucket name", 63, s3_bucket=True)
WORKER = Service("Cloudflare Worker name", 63)
KV_TITLE = Service("Workers KV namespace title", 512)
HOST_LABEL = Service("host label", 63)
REDIS_PREFIX = Service("Redis key prefix", 200, suffix=":")
OBJECT_PREFIX = Service("object-store key prefix", 1024 - KEY_ROOM, suffix="/")
SERVICES = (BUCKET, WORKER, KV_TITLE, HOST_LABEL, REDIS_PREFIX, OBJECT_PREFIX)

#: What the platform names: (output key, component, service), in the order shown.
COMPONENTS: tuple[tuple[str, str, Service], ...] = (
    ("worker", "edge", WORKER),
    ("bucket", "assets", BUCKET),
    ("object_prefix", "assets", OBJECT_PREFIX),
    ("kv_namespace", "aliases", KV_TITLE),
    ("kv_domains_namespace", "domains", KV_TITLE),
    ("origin_host_label", "origin", HOST_LABEL),
    ("redis_prefix", "state", REDIS_PREFIX),
)


def _check_part(part: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ResourceNameError(
            part, f"{part} is empty; give lowercase letters and digits, like 'acme'"
        )
    shown = repr(value[:70])
    if not value.isascii():
        raise ResourceNameError(
            part,
            f"{part} {shown} has non-ASCII characters; resource names take a-z and 0-9 "
            f"only (try {_suggest(value)!r})",
        )
    if "-" in value:
        raise ResourceNameError(
            part,
            f"{part} {shown} has a hyphen; hyphens separate the parts of "
            "{customer}-{project}-{environment}-{component}, so a part is letters and "
            f"digits only (try {_suggest(value)!r})",
        )
    if not _PART_RE.match(value):
        raise ResourceNameError(
            part,
            f"{part} {shown} must be lowercase letters and digits only (try {_suggest(value)!r})",
        )
    return value


def _suggest(value: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower()) or "acme"


def _check_environment(value: object) -> str:
    if value not in ENVIRONMENTS:
        shown = repr(value[:70]) if isinstance(value, str) else repr(value)
        hint = ""
        if isinstance(value, str) and value.lower() in ENVIRONMENTS:
            hint = f" (lowercase: {value.lower()!r})"
        elif value in ("production", "prd"):
            hint = " ('prod' for production)"
        elif value in ("development", "develop", "local"):
            hint = " ('dev' for development)"
        elif value in ("stage", "stg", "preview"):
            hint = " ('staging')"
        raise ResourceNameError(
            "environment",
            f"environment {shown} must be one of {', '.join(ENVIRONMENTS)}{hint}",
        )
    return str(value)


@dataclass(frozen=True)
class NamingConfig:
    """Customer, project and environment of one installation; checked when made."""

    customer: str
    project: str
    environment: str

    def __post_init__(self) -> None:
        _check_part("customer", self.customer)
        _check_part("project", self.project)
        _check_environment(self.environment)
        # Of the names too long, report the one furthest over: shortening by that
        # much fixes every name at once.
        too_long: list[ResourceNameError] = []
        for _key, component, service in COMPONENTS:
            try:
                resource_name(self, component, service)
            except ResourceNameError as exc:
                if not exc.over:
                    raise
                too_long.append(exc)
        if too_long:
            raise max(too_long, key=lambda exc: exc.over)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NamingConfig | None:
        """From DP_CUSTOMER, DP_PROJECT, DP_ENVIRONMENT: all three, or None for none."""
        values = {part: env.get(var, "") for part, var in ENV_VARS.items()}
        missing = [ENV_VARS[part] for part, value in values.items() if not value]
        if len(missing) == len(values):
            return None
        if missing:
            given = ", ".join(ENV_VARS[p] for p, v in values.items() if v)
            raise ResourceNameError(
                "name",
                f"{given} set but {', '.join(missing)} not: the naming configuration "
                f"needs all of {', '.join(ENV_VARS.values())}, or none",
            )
        try:
            return cls(**values)
        except ResourceNameError as exc:
            where = ENV_VARS.get(exc.part) or f"{ENV_VARS['customer']}, {ENV_VARS['project']}"
            raise ResourceNameError(exc.part, f"{where}: {exc}", exc.over) from None

    @property
    def stem(self) -> str:
        """`{customer}-{project}-{environment}`, the part every name shares."""
        return f"{self.customer}-{self.project}-{self.environment}"


def resource_name(config: NamingConfig, component: str, service: Service) -> str:
    """`{customer}-{project}-{environment}-{component}` checked against `service`'s limits."""
    _check_part("component", component)
    base = f"{config.stem}-{component}"
    name = base + service.suffix
    if len(name) > service.max_length:
        over = len(name) - service.max_length
        raise ResourceNameError(
            "name",
            f"{service.title} {name!r} is {len(name)} characters, over the limit of "
            f"{service.max_length}: shorten the customer ({len(config.customer)} "
            f"characters) or the project ({len(config.project)}) by {over} together",
            over=over,
        )
    if service.s3_bucket:
        for prefix in _S3_RESERVED_PREFIXES:
            if name.startswith(prefix):
                raise ResourceNameError(
                    "customer",
                    f"{service.title} {name!r} starts with {prefix!r}, which S3 reserves; "
                    "choose another customer",
                )
        for suffix in _S3_RESERVED_SUFFIXES:
            if name.endswith(suffix):
                raise ResourceNameError(
                    "component",
                    f"{service.title} {name!r} ends with {suffix!r}, which S3 reserves; "
                    "choose another component",
                )
    return name


def worker_name(config: NamingConfig) -> str:
    """The Cloudflare Worker (`edge-worker/`): `name` in wrangler.toml."""
    return resource_name(config, "edge", WORKER)


def bucket_name(config: NamingConfig) -> str:
    """The S3/R2 bucket the publisher writes and the Worker reads (`DP_STORAGE_URL`)."""
    return resource_name(config, "assets", BUCKET)


def object_prefix(config: NamingConfig) -> str:
    """The key prefix when environments share one bucket: `s3://shared/<prefix>`."""
    return resource_name(config, "assets", OBJECT_PREFIX)


def kv_namespace_title(config: NamingConfig) -> str:
    """The title of the Worker's KV alias index (`wrangler kv namespace create <title>`)."""
    return resource_name(config, "aliases", KV_TITLE)


def kv_domains_namespace_title(config: NamingConfig) -> str:
    """The title of the Worker's KV custom-domain index (`DOMAINS`)."""
    return resource_name(config, "domains", KV_TITLE)


def origin_label(config: NamingConfig) -> str:
    """The first label of the edge-origin's host name (the Worker's `ORIGIN_URL`)."""
    return resource_name(config, "origin", HOST_LABEL)


def redis_prefix(config: NamingConfig) -> str:
    """The prefix of every Redis key (`DP_REDIS_PREFIX`), ending with `:`."""
    return resource_name(config, "state", REDIS_PREFIX)


def all_names(config: NamingConfig) -> dict[str, str]:
    """Every name the platform gives, keyed as in `COMPONENTS` (for `deploy-platform names`)."""
    return {
        key: resource_name(config, component, service) for key, component, service in COMPONENTS
    }


def check_storage_url(config: NamingConfig, url: str) -> None:
    """An `s3://` storage URL must use the configuration's bucket, or its prefix in a shared one.

    `s3://acme-pages-prod-assets[/...]` (a bucket of its own) or
    `s3://<shared bucket>/acme-pages-prod-assets` (one prefix per environment);
    other schemes (a local directory) name no bucket and pass.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3":
        return
    bucket, prefix = parts.netloc, parts.path.strip("/")
    own, shared = bucket_name(config), object_prefix(config).rstrip("/")
    if bucket == own or prefix == shared:
        return
    where = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    raise ResourceNameError(
        "name",
        f"DP_STORAGE_URL uses {where}, but the naming configuration ({config.stem}) names "
        f"the object store s3://{own} (a bucket of its own) or s3://{bucket}/{shared} (a "
        "prefix in a shared bucket); use one of those, or unset DP_CUSTOMER, DP_PROJECT "
        "and DP_ENVIRONMENT to name resources yourself",
    )


@dataclass(frozen=True)
class Placement:
    """Where an installation keeps its state, once its naming configuration is applied."""

    naming: NamingConfig | None
    redis_prefix: str
    storage_url: str


def placement(
    env: Mapping[str, str], default_storage_url: str, default_redis_prefix: str
) -> Placement:
    """The naming configuration, DP_REDIS_PREFIX and DP_STORAGE_URL of `env`, the
    same for every process: with the naming configuration the prefix defaults to
    its name and an `s3://` URL must be its own (`ResourceNameError` otherwise)."""
    naming = NamingConfig.from_env(env)
    prefix = env.get("DP_REDIS_PREFIX")
    if prefix is None:  # set but empty means no prefix
        prefix = redis_prefix(naming) if naming else default_redis_prefix
    storage_url = env.get("DP_STORAGE_URL") or default_storage_url
    if naming is not None:
        check_storage_url(naming, storage_url)
    return Placement(naming, prefix, storage_url)
