"""The edge-origin's configuration, built once from the environment.

The edge reads the variables the settings registry declares for it
(`Reader.EDGE` in deploy_platform/settings/registry.py, with their defaults and
meaning; docs/reference/configuration.md): the shared ones (state directory,
storage URL and S3/R2 credentials, Redis URL and prefix, base domain, the naming
configuration DP_CUSTOMER/DP_PROJECT/DP_ENVIRONMENT) and its own `DP_EDGE_*`
knobs. Nothing else of the platform's settings: not the GitHub token, not
DAGSTER_HOME.

The configured cache size (`EdgeConfig.cache_bytes`) is the manifest, body and
answer budgets together: the edge's resident memory stays under it plus about
150 MB per process (`serve.memory` lists every cache and its bound). A
manifest's size is estimated, so one manifest of 20,000 files weighs what it
costs, not "one entry"; the entry cap from earlier versions still works, but the
byte budget alone bounds memory.
The cache sizes are per process: `python -m serve --workers N` runs N of them.
A bad value fails at start-up with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from deploy_platform.contracts.names import is_valid_label
from deploy_platform.contracts.resource_names import placement
from deploy_platform.settings.registry import default, default_state_dir
from serve.hosts import IPNetwork, parse_trusted_proxies

__all__ = ["EdgeConfig", "EdgeConfigError", "redacted_url"]

KIB = 1024
MIB = 1024 * KIB
ALIAS_TTL = float(default("DP_EDGE_ALIAS_TTL_SECONDS"))
NEGATIVE_TTL = float(default("DP_EDGE_NEGATIVE_TTL_SECONDS"))
MANIFEST_CACHE_BYTES = int(default("DP_EDGE_MANIFEST_CACHE_BYTES"))
BODY_CACHE_BYTES = int(default("DP_EDGE_BODY_CACHE_BYTES"))
BODY_CACHE_ITEM_BYTES = int(default("DP_EDGE_BODY_CACHE_ITEM_BYTES"))
ANSWER_CACHE_BYTES = int(default("DP_EDGE_ANSWER_CACHE_BYTES"))
HEADER_TIMEOUT = float(default("DP_EDGE_HEADER_TIMEOUT_SECONDS"))
DISK_CACHE_BYTES = int(default("DP_EDGE_DISK_CACHE_BYTES"))
SKEW_GRACE = float(default("DP_EDGE_SKEW_GRACE_SECONDS"))

_T = TypeVar("_T", int, float)


class EdgeConfigError(ValueError):
    """The edge-origin cannot start with this configuration; the message says what to fix."""


@dataclass(frozen=True)
class EdgeConfig:
    """Everything the edge-origin needs; credentials are kept out of `repr`."""

    storage_url: str
    base_domain: str = "localhost"
    storage_access_key_id: str | None = field(default=None, repr=False)
    storage_secret_access_key: str | None = field(default=None, repr=False)
    redis_url: str = ""
    redis_prefix: str = "dp:"
    #: Socket timeout for Redis; after a failure the edge reads the object store
    #: for `redis_retry_seconds` before trying Redis again.
    redis_timeout_seconds: float = 0.5
    redis_retry_seconds: float = 5.0
    alias_ttl_seconds: float = ALIAS_TTL
    negative_ttl_seconds: float = NEGATIVE_TTL
    manifest_cache_bytes: int = MANIFEST_CACHE_BYTES
    #: Optional cap on the number of cached manifests (None: only the byte budget).
    manifest_cache_entries: int | None = None
    body_cache_bytes: int = BODY_CACHE_BYTES
    body_cache_item_bytes: int = BODY_CACHE_ITEM_BYTES
    answer_cache_bytes: int = ANSWER_CACHE_BYTES
    chunk_size: int = 256 * KIB
    io_threads: int = 8
    #: Peers whose X-Forwarded-Host names the site (IPs or CIDRs, as text).
    trusted_proxies: tuple[str, ...] = ()
    skew_grace_seconds: float = SKEW_GRACE
    header_timeout_seconds: float = HEADER_TIMEOUT
    #: Empty: no disk cache (what `EdgeConfig(...)` gets; `from_env` sets one).
    disk_cache_dir: str = ""
    disk_cache_bytes: int = DISK_CACHE_BYTES
    trusted_networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            networks = parse_trusted_proxies(self.trusted_proxies)
        except ValueError as exc:
            raise EdgeConfigError(f"DP_EDGE_TRUSTED_PROXIES: {exc}") from None
        object.__setattr__(self, "trusted_networks", networks)
        base = self.base_domain.lower().rstrip(".")
        object.__setattr__(self, "base_domain", base)
        if not base or not all(is_valid_label(label) for label in base.split(".")):
            raise EdgeConfigError(
                f"base domain {self.base_domain!r} is not a DNS name (DP_BASE_DOMAIN, "
                "for example 'localhost' or 'pages.example.com')"
            )
        if not self.storage_url:
            raise EdgeConfigError("no storage URL (DP_STORAGE_URL: file:///path or s3://bucket)")
        for name in (
            "alias_ttl_seconds",
            "negative_ttl_seconds",
            "redis_retry_seconds",
            "skew_grace_seconds",
        ):
            if getattr(self, name) < 0:
                raise EdgeConfigError(f"{name} must be zero or more")
        for name in (
            "manifest_cache_bytes",
            "manifest_cache_entries",
            "body_cache_bytes",
            "body_cache_item_bytes",
            "answer_cache_bytes",
            "disk_cache_bytes",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise EdgeConfigError(f"{name} must be zero or more")
        if self.header_timeout_seconds <= 0:
            raise EdgeConfigError("DP_EDGE_HEADER_TIMEOUT_SECONDS must be more than zero")
        if self.redis_timeout_seconds <= 0:
            raise EdgeConfigError("redis_timeout_seconds must be more than zero")
        if self.chunk_size < 1 or self.io_threads < 1:
            raise EdgeConfigError("chunk_size and io_threads must be at least 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EdgeConfig:
        """The shared settings the edge uses, its own `DP_EDGE_*` knobs and S3 credentials.

        Raises ValueError (a `ResourceNameError`) for a bad naming configuration, as
        every process of the platform does, and EdgeConfigError for the rest."""
        env = os.environ if env is None else env
        state_dir = Path(env.get("DP_STATE_DIR") or default_state_dir())
        placed = placement(env, (state_dir / "objects").as_uri(), default("DP_REDIS_PREFIX"))
        return cls(
            storage_url=placed.storage_url,
            base_domain=env.get("DP_BASE_DOMAIN", default("DP_BASE_DOMAIN")).lower().rstrip("."),
            storage_access_key_id=env.get("DP_S3_ACCESS_KEY_ID") or None,
            storage_secret_access_key=env.get("DP_S3_SECRET_ACCESS_KEY") or None,
            redis_url=env.get("DP_REDIS_URL", ""),
            redis_prefix=placed.redis_prefix,
            alias_ttl_seconds=_number(env, "DP_EDGE_ALIAS_TTL_SECONDS", float, ALIAS_TTL),
            negative_ttl_seconds=_number(env, "DP_EDGE_NEGATIVE_TTL_SECONDS", float, NEGATIVE_TTL),
            manifest_cache_bytes=_number(
                env, "DP_EDGE_MANIFEST_CACHE_BYTES", int, MANIFEST_CACHE_BYTES
            ),
            manifest_cache_entries=_optional_number(env, "DP_EDGE_MANIFEST_CACHE_ENTRIES", int),
            body_cache_bytes=_number(env, "DP_EDGE_BODY_CACHE_BYTES", int, BODY_CACHE_BYTES),
            body_cache_item_bytes=_number(
                env, "DP_EDGE_BODY_CACHE_ITEM_BYTES", int, BODY_CACHE_ITEM_BYTES
            ),
            trusted_proxies=tuple(
                part.strip()
                for part in env.get("DP_EDGE_TRUSTED_PROXIES", "").split(",")
                if part.strip()
            ),
            skew_grace_seconds=_number(env, "DP_EDGE_SKEW_GRACE_SECONDS", float, SKEW_GRACE),
            answer_cache_bytes=_number(env, "DP_EDGE_ANSWER_CACHE_BYTES", int, ANSWER_CACHE_BYTES),
            header_timeout_seconds=_number(
                env, "DP_EDGE_HEADER_TIMEOUT_SECONDS", float, HEADER_TIMEOUT
            ),
            disk_cache_dir=_disk_cache_dir(state_dir, env),
            disk_cache_bytes=_number(env, "DP_EDGE_DISK_CACHE_BYTES", int, DISK_CACHE_BYTES),
        )

    @property
    def disk_cache_on(self) -> bool:
        return bool(self.disk_cache_dir) and self.disk_cache_bytes > 0

    @property
    def cache_bytes(self) -> int:
        """The configured cache size: what the manifest, body and answer caches may hold."""
        return self.manifest_cache_bytes + self.body_cache_bytes + self.answer_cache_bytes

    def describe(self) -> str:
        """One line for the start-up log, without secrets."""
        redis = f"redis {redacted_url(self.redis_url)} prefix {self.redis_prefix!r}"
        return (
            f"*.{self.base_domain} from {redacted_url(self.storage_url)}, "
            f"{redis if self.redis_url else 'no redis (aliases from the object store)'}, "
            f"alias ttl {self.alias_ttl_seconds:g}s, skew grace {self.skew_grace_seconds:g}s, "
            f"caches {self.cache_bytes / MIB:g} MiB (manifests "
            f"{self.manifest_cache_bytes / MIB:g}, bodies {self.body_cache_bytes / MIB:g}, "
            f"answers {self.answer_cache_bytes / MIB:g}), "
            f"X-Forwarded-Host from {', '.join(self.trusted_proxies) or 'no one'}, "
            f"header timeout {self.header_timeout_seconds:g}s, disk cache "
            + (
                f"{self.disk_cache_dir} ({self.disk_cache_bytes / MIB:g} MiB)"
                if self.disk_cache_on
                else "off"
            )
        )


def _disk_cache_dir(state_dir: Path, env: Mapping[str, str]) -> str:
    """DP_EDGE_DISK_CACHE_DIR, else `<state>/edge-cache` when a state directory is set
    (`up` sets one); a bare `python -m serve` does not write under a default one."""
    explicit = env.get("DP_EDGE_DISK_CACHE_DIR", "").strip()
    if explicit:
        return explicit
    return str(state_dir / "edge-cache") if env.get("DP_STATE_DIR") else ""


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], _T], default: _T) -> _T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise EdgeConfigError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise EdgeConfigError(f"{name}={raw!r} must be zero or more")
    return value


def _optional_number(env: Mapping[str, str], name: str, kind: Callable[[str], _T]) -> _T | None:
    if not env.get(name, "").strip():
        return None
    return _number(env, name, kind, kind("0"))


def redacted_url(url: str) -> str:
    """The URL with any password replaced, safe to log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))
