"""The edge-origin's configuration, built once from the platform's `Settings`.

Besides the shared `DP_*` settings (storage URL, Redis URL and prefix, base
domain) the edge reads:

  DP_S3_ACCESS_KEY_ID, DP_S3_SECRET_ACCESS_KEY  S3/R2 credentials (the names the
                                                 Dagster definitions use); unset ->
                                                 boto3's usual credential chain
  DP_EDGE_ALIAS_TTL_SECONDS      how long an alias -> deployment answer is reused (1)
  DP_EDGE_NEGATIVE_TTL_SECONDS   how long "no such alias/deployment" is reused (1)
  DP_EDGE_MANIFEST_CACHE_BYTES   estimated memory for parsed manifests; they are immutable (32 MiB)
  DP_EDGE_MANIFEST_CACHE_ENTRIES optional extra cap on the number of manifests kept (no cap)
  DP_EDGE_BODY_CACHE_BYTES       total bytes of small bodies kept in memory (64 MiB)
  DP_EDGE_BODY_CACHE_ITEM_BYTES  largest body that is cached instead of streamed (256 KiB)
  DP_EDGE_TRUSTED_PROXIES        comma-separated IPs/CIDRs of proxies whose
                                 X-Forwarded-Host is believed (empty: none; see
                                 serve.hosts for which value of a list counts)
  DP_EDGE_SKEW_GRACE_SECONDS     how long the fingerprinted assets of an alias's
                                 earlier deployments stay reachable on it after it
                                 moves (43200 = 12 hours; 0 turns it off; see
                                 deploy_platform.contracts.skew)
  DP_EDGE_ANSWER_CACHE_BYTES     memory for ready-made answers to repeated requests,
                                 served without the aiohttp pipeline (16 MiB; 0: off)
  DP_EDGE_HEADER_TIMEOUT_SECONDS a connection whose request headers are not complete
                                 this long after it opened (or after its previous
                                 answer) is closed; also how long an idle keep-alive
                                 connection stays open (15; nginx's
                                 client_header_timeout and keepalive_timeout)
  DP_EDGE_DISK_CACHE_DIR         where copies of bodies, manifests and alias answers
                                 read from the store are kept, to serve through a
                                 store outage (<DP_STATE_DIR>/edge-cache when
                                 DP_STATE_DIR is set, as under `up`, else none;
                                 serve.disk_cache)
  DP_EDGE_DISK_CACHE_BYTES       the bound of that directory, shared by all workers
                                 (1 GiB; 0: no disk cache)

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
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from deploy_platform.contracts.names import is_valid_label
from deploy_platform.contracts.skew import DEFAULT_GRACE_SECONDS
from deploy_platform.settings import Settings
from serve.hosts import IPNetwork, parse_trusted_proxies

__all__ = ["EdgeConfig", "EdgeConfigError", "redacted_url"]

KIB = 1024
MIB = 1024 * KIB
ALIAS_TTL = 1.0
NEGATIVE_TTL = 1.0
MANIFEST_CACHE_BYTES = 32 * MIB
BODY_CACHE_BYTES = 64 * MIB
BODY_CACHE_ITEM_BYTES = 256 * KIB
ANSWER_CACHE_BYTES = 16 * MIB
HEADER_TIMEOUT = 15.0
DISK_CACHE_BYTES = 1024 * MIB

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
    skew_grace_seconds: float = DEFAULT_GRACE_SECONDS
    header_timeout_seconds: float = HEADER_TIMEOUT
    #: Empty: no disk cache (what `EdgeConfig(...)` gets; `from_settings` sets one).
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
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> EdgeConfig:
        """The shared settings plus the edge's own `DP_EDGE_*` knobs and S3 credentials."""
        env = os.environ if env is None else env
        return cls(
            storage_url=settings.storage_url,
            base_domain=settings.base_domain,
            storage_access_key_id=env.get("DP_S3_ACCESS_KEY_ID") or None,
            storage_secret_access_key=env.get("DP_S3_SECRET_ACCESS_KEY") or None,
            redis_url=settings.redis_url,
            redis_prefix=settings.redis_prefix,
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
            skew_grace_seconds=_number(
                env, "DP_EDGE_SKEW_GRACE_SECONDS", float, DEFAULT_GRACE_SECONDS
            ),
            answer_cache_bytes=_number(env, "DP_EDGE_ANSWER_CACHE_BYTES", int, ANSWER_CACHE_BYTES),
            header_timeout_seconds=_number(
                env, "DP_EDGE_HEADER_TIMEOUT_SECONDS", float, HEADER_TIMEOUT
            ),
            disk_cache_dir=_disk_cache_dir(settings, env),
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


def _disk_cache_dir(settings: Settings, env: Mapping[str, str]) -> str:
    """DP_EDGE_DISK_CACHE_DIR, else `<state>/edge-cache` when a state directory is set
    (`up` sets one); a bare `python -m serve` does not write under a default one."""
    explicit = env.get("DP_EDGE_DISK_CACHE_DIR", "").strip()
    if explicit:
        return explicit
    return str(settings.state_dir / "edge-cache") if env.get("DP_STATE_DIR") else ""


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
