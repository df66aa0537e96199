"""Site -> deployment id -> manifest, with the caches that keep this off the network.

Aliases are read from Redis (`PlatformState.get_alias`), the index, and when
Redis has no answer or cannot be reached, from the durable pointer
`aliases/<name>.json` in the object store, the source of truth. An answer is
reused for `alias_ttl_seconds`, so a moved alias is seen within that time.

A deployment exists exactly when its manifest does (publishing writes it last).
Manifests never change, so they stay in a bounded LRU; "no manifest (yet)" and
"no such alias" are remembered only for `negative_ttl_seconds`.

When Redis is configured, `serve.invalidation` also drops a cached alias the
moment the publisher announces its move; the TTL is the backstop.

All blocking calls (Redis, the store, JSON parsing) run in the I/O executor.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import TypeVar

import redis

from deploy_platform.ids import is_deployment_id
from deploy_platform.manifest import InvalidManifest, Manifest, alias_key, manifest_key
from deploy_platform.state import PlatformState
from deploy_platform.storage import ObjectNotFound, ObjectStore
from serve.cache import MISSING, LRUCache, SingleFlight, TTLCache
from serve.config import EdgeConfig
from serve.hosts import Site, SiteKind

__all__ = ["BrokenSite", "DeploymentLookup"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_NEGATIVE_ENTRIES = 10_000  # bounds memory when someone requests many random hosts


class BrokenSite(Exception):
    """A pointer or manifest exists but cannot be read; the platform, not the visitor, erred."""


class DeploymentLookup:
    def __init__(
        self,
        store: ObjectStore,
        state: PlatformState | None,
        executor: Executor,
        config: EdgeConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._state = state
        self._executor = executor
        self._config = config
        self._clock = clock
        self._aliases: TTLCache[str, str | None] = TTLCache(_NEGATIVE_ENTRIES, clock)
        self._manifests: LRUCache[str, Manifest] = LRUCache(config.manifest_cache_entries)
        self._no_manifest: TTLCache[str, bool] = TTLCache(_NEGATIVE_ENTRIES, clock)
        self._alias_flight: SingleFlight[str, str | None] = SingleFlight()
        self._manifest_flight: SingleFlight[str, Manifest | None] = SingleFlight()
        self._redis_retry_at = 0.0
        # Bumped by every invalidation: a read that started before one must not
        # put its (possibly stale) answer into the cache after it.
        self._alias_epoch = 0

    async def deployment_for(self, site: Site) -> str | None:
        if site.kind is SiteKind.DEPLOYMENT:
            return site.name
        return await self.alias(site.name)

    async def alias(self, name: str) -> str | None:
        """The deployment id the alias points at, or None when it points nowhere."""
        cached = self._aliases.get(name)
        if cached is not MISSING:
            return cached
        return await self._alias_flight.run(name, partial(self._fetch_alias, name))

    async def manifest(self, deployment_id: str) -> Manifest | None:
        """The deployment's manifest, or None when the deployment does not exist (yet)."""
        cached = self._manifests.get(deployment_id)
        if cached is not MISSING:
            return cached
        if self._no_manifest.get(deployment_id) is not MISSING:
            return None
        return await self._manifest_flight.run(
            deployment_id, partial(self._fetch_manifest, deployment_id)
        )

    @property
    def alias_epoch(self) -> int:
        """Changes whenever cached aliases are dropped (`serve.answers` follows it)."""
        return self._alias_epoch

    def forget_alias(self, name: str) -> None:
        """Drop the cached answer for one alias (it moved)."""
        self._alias_epoch += 1
        self._aliases.discard(name)

    def forget_aliases(self) -> None:
        """Drop every cached alias answer (moves may have been missed)."""
        self._alias_epoch += 1
        self._aliases.clear()

    # -- fetching (on the loop: caching; in the executor: I/O) ----------------------
    async def _fetch_alias(self, name: str) -> str | None:
        epoch = self._alias_epoch
        target = await self._blocking(self._read_alias, name)
        if epoch == self._alias_epoch:
            ttl = self._config.alias_ttl_seconds if target else self._config.negative_ttl_seconds
            self._aliases.put(name, target, ttl)
        return target

    async def _fetch_manifest(self, deployment_id: str) -> Manifest | None:
        manifest = await self._blocking(self._read_manifest, deployment_id)
        if manifest is None:
            self._no_manifest.put(deployment_id, True, self._config.negative_ttl_seconds)
        else:
            self._manifests.put(deployment_id, manifest)
        return manifest

    async def _blocking(self, function: Callable[[str], _T], argument: str) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, argument)

    def _read_alias(self, name: str) -> str | None:
        return self._alias_from_redis(name) or self._alias_from_store(name)

    def _alias_from_redis(self, name: str) -> str | None:
        if self._state is None or self._clock() < self._redis_retry_at:
            return None
        try:
            target = self._state.get_alias(name)
        except redis.RedisError as exc:
            retry = self._config.redis_retry_seconds
            self._redis_retry_at = self._clock() + retry
            log.warning(
                "redis is unreachable (%s); reading aliases from the object store for the next %gs",
                exc,
                retry,
            )
            return None
        if target is not None and not is_deployment_id(target):
            log.error(
                "redis alias %r holds %r, which is not a deployment id; "
                "reading the object store instead",
                name,
                target,
            )
            return None
        return target

    def _alias_from_store(self, name: str) -> str | None:
        key = alias_key(name)
        try:
            raw = self._store.get_bytes(key)
        except ObjectNotFound:
            return None
        try:
            pointer = json.loads(raw)
            target = pointer["deployment"]
        except (ValueError, TypeError, KeyError) as exc:
            raise BrokenSite(
                f"alias pointer {key} is not a JSON object with a 'deployment' field"
            ) from exc
        if target is None:
            return None  # the alias was taken down
        if not isinstance(target, str) or not is_deployment_id(target):
            raise BrokenSite(f"alias pointer {key} names {target!r}, not a deployment id")
        return target

    def _read_manifest(self, deployment_id: str) -> Manifest | None:
        key = manifest_key(deployment_id)
        try:
            raw = self._store.get_bytes(key)
        except ObjectNotFound:
            return None
        try:
            manifest = Manifest.from_json(raw)
        except InvalidManifest as exc:
            raise BrokenSite(f"manifest {key} cannot be read: {exc}") from exc
        if manifest.deployment != deployment_id:
            raise BrokenSite(f"manifest {key} belongs to deployment {manifest.deployment!r}")
        return manifest
