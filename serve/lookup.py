"""Site -> deployment id -> manifest, with the caches that keep this off the network.

Aliases are read from Redis (`PlatformState.get_alias`), the index, and when
Redis has no answer or cannot be reached, from the durable pointer
`aliases/<name>.json` in the object store, the source of truth. An answer is
reused for `alias_ttl_seconds`, so a moved alias is seen within that time.
Custom domains go the same way one step earlier: hostname -> project
(`PlatformState.get_domain`, else `domains/<hostname>.json`) -> the project's
production alias, cached alike ("no such domain" for `negative_ttl_seconds`).

Skew protection reads an alias pointer's `history` (`deploy_platform.contracts.skew`)
only when a fingerprinted file is missing from the current deployment; it
lives only in the store's pointer and is cached like the alias answer.

A deployment exists exactly when its manifest does (publishing writes it last).
Manifests never change, so they stay in an LRU bounded by their estimated size
(`serve.memory`); "no manifest (yet)" and "no such alias" are remembered only for
`negative_ttl_seconds`, and only so many of them.

When Redis is configured, `serve.invalidation` also drops a cached alias (and
its history) or domain the moment the platform announces the change; the TTL is
the backstop.

While the object store is down, what the edge learnt from it keeps serving:
manifests and alias and domain answers are copied to the disk cache
(`serve.disk_cache`) when read, and that copy answers when the store fails --
in this process and in a fresh one. The store decides whenever it answers
(a removed deployment's copy is dropped the moment the store says it is gone).
For `STORE_RETRY_SECONDS` after a failure the copies answer first, so requests
do not each wait for the store to fail again. An alias history (skew
protection) the store cannot give is taken as empty.

All blocking calls (Redis, the store, the disk, JSON parsing) run in the I/O executor.
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

from deploy_platform.contracts.domains import InvalidDomainPointer, domain_key, parse_domain_pointer
from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.manifest import InvalidManifest, Manifest, alias_key, manifest_key
from deploy_platform.contracts.names import InvalidName, production_alias, validate_project_name
from deploy_platform.contracts.skew import Replaced, history_from_pointer, within_grace
from deploy_platform.storage import ObjectNotFound, ObjectStore, ObjectStoreError
from deploy_platform.storage.redis_state import PlatformState
from serve.cache import MISSING, LRUCache, SingleFlight, TTLCache
from serve.config import EdgeConfig
from serve.disk_cache import DiskCache
from serve.hosts import Site, SiteKind
from serve.memory import ALIAS_ENTRIES, NEGATIVE_ENTRIES, manifest_weight

__all__ = ["BrokenSite", "DeploymentLookup"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
# A manifest too large to cache is worth one log line an hour, not one per request.
_OVERSIZE_WARNINGS = 1_000
_OVERSIZE_WARNING_SECONDS = 3600.0
#: After the store failed, copies on disk answer first for this long.
STORE_RETRY_SECONDS = 5.0
_GONE = ""  # a pointer copy saying "points nowhere"


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
        wall_clock: Callable[[], float] = time.time,
        disk: DiskCache | None = None,
    ) -> None:
        self._store = store
        self._disk = disk
        self._store_retry_at = 0.0
        self._state = state
        self._executor = executor
        self._config = config
        self._clock = clock
        # Skew grace is measured against `replaced_at` in pointers: wall-clock seconds.
        self._wall_clock = wall_clock
        self._aliases: TTLCache[str, str | None] = TTLCache(ALIAS_ENTRIES, clock)
        self._domains: TTLCache[str, str | None] = TTLCache(ALIAS_ENTRIES, clock)
        self._histories: TTLCache[str, tuple[Replaced, ...]] = TTLCache(ALIAS_ENTRIES, clock)
        self.manifests: LRUCache[str, Manifest] = LRUCache(
            config.manifest_cache_bytes, max_entries=config.manifest_cache_entries
        )
        self._no_manifest: TTLCache[str, bool] = TTLCache(NEGATIVE_ENTRIES, clock)
        self._oversize_warned: TTLCache[str, bool] = TTLCache(_OVERSIZE_WARNINGS, clock)
        self._alias_flight: SingleFlight[str, str | None] = SingleFlight()
        self._domain_flight: SingleFlight[str, str | None] = SingleFlight()
        self._history_flight: SingleFlight[str, tuple[Replaced, ...]] = SingleFlight()
        self._manifest_flight: SingleFlight[str, Manifest | None] = SingleFlight()
        self._redis_retry_at = 0.0
        # Bumped by every invalidation: a read that started before one must not
        # put its (possibly stale) answer into the cache after it.
        self._alias_epoch = 0
        self._domain_epoch = 0
        self._removed_epoch = 0

    async def deployment_for(self, site: Site) -> str | None:
        if site.kind is SiteKind.DEPLOYMENT:
            return site.name
        alias = await self.alias_for(site)
        return await self.alias(alias) if alias is not None else None

    async def alias_for(self, site: Site) -> str | None:
        """The alias an alias or custom-domain host follows; None for a deployment id."""
        if site.kind is SiteKind.ALIAS:
            return site.name
        if site.kind is SiteKind.DOMAIN:
            project = await self.domain(site.name)
            return production_alias(project) if project is not None else None
        return None

    async def domain(self, hostname: str) -> str | None:
        """The project a custom domain serves, or None when it is not mapped."""
        cached = self._domains.get(hostname)
        if cached is not MISSING:
            return cached
        return await self._domain_flight.run(hostname, partial(self._fetch_domain, hostname))

    async def earlier_deployments(self, alias: str) -> list[str]:
        """Deployments the alias pointed at before, still within the skew grace, newest first."""
        grace = self._config.skew_grace_seconds
        if grace <= 0:
            return []
        history = self._histories.get(alias)
        if history is MISSING:
            history = await self._history_flight.run(alias, partial(self._fetch_history, alias))
        return within_grace(history, self._wall_clock(), grace)

    async def alias(self, name: str) -> str | None:
        """The deployment id the alias points at, or None when it points nowhere."""
        cached = self._aliases.get(name)
        if cached is not MISSING:
            return cached
        return await self._alias_flight.run(name, partial(self._fetch_alias, name))

    async def manifest(self, deployment_id: str) -> Manifest | None:
        """The deployment's manifest, or None when the deployment does not exist (yet)."""
        cached = self.manifests.get(deployment_id)
        if cached is not MISSING:
            return cached
        if self._no_manifest.get(deployment_id) is not MISSING:
            return None
        return await self._manifest_flight.run(
            deployment_id, partial(self._fetch_manifest, deployment_id)
        )

    @property
    def alias_epoch(self) -> int:
        """Changes whenever cached aliases, domains or manifests are dropped (`serve.answers`
        follows it)."""
        return self._alias_epoch + self._domain_epoch + self._removed_epoch

    def forget_deployment(self, deployment_id: str) -> None:
        """Drop a removed deployment's manifest (retention deleted it: it no longer exists)."""
        self._removed_epoch += 1
        self.manifests.discard(deployment_id)

    def forget_manifests(self) -> None:
        """Drop every cached manifest (removals may have been missed)."""
        self._removed_epoch += 1
        self.manifests.clear()

    def forget_alias(self, name: str) -> None:
        """Drop the cached answer for one alias (it moved), and its history."""
        self._alias_epoch += 1
        self._aliases.discard(name)
        self._histories.discard(name)

    def forget_aliases(self) -> None:
        """Drop every cached alias answer (moves may have been missed)."""
        self._alias_epoch += 1
        self._aliases.clear()
        self._histories.clear()

    def forget_domain(self, hostname: str) -> None:
        """Drop the cached answer for one custom domain (added or removed)."""
        self._domain_epoch += 1
        self._domains.discard(hostname)

    def forget_domains(self) -> None:
        """Drop every cached custom-domain answer (changes may have been missed)."""
        self._domain_epoch += 1
        self._domains.clear()

    # -- fetching (on the loop: caching; in the executor: I/O) ----------------------
    async def _fetch_alias(self, name: str) -> str | None:
        epoch = self._alias_epoch
        target = await self._blocking(self._read_alias, name)
        if epoch == self._alias_epoch:
            ttl = self._config.alias_ttl_seconds if target else self._config.negative_ttl_seconds
            self._aliases.put(name, target, ttl)
        return target

    async def _fetch_domain(self, hostname: str) -> str | None:
        epoch = self._domain_epoch
        project = await self._blocking(self._read_domain, hostname)
        if epoch == self._domain_epoch:
            ttl = self._config.alias_ttl_seconds if project else self._config.negative_ttl_seconds
            self._domains.put(hostname, project, ttl)
        return project

    async def _fetch_history(self, alias: str) -> tuple[Replaced, ...]:
        epoch = self._alias_epoch
        history = await self._blocking(self._read_history, alias)
        if epoch == self._alias_epoch:
            self._histories.put(alias, history, self._config.alias_ttl_seconds)
        return history

    async def _fetch_manifest(self, deployment_id: str) -> Manifest | None:
        epoch = self._removed_epoch
        found = await self._blocking(self._read_manifest, deployment_id)
        if found is None:
            self._no_manifest.put(deployment_id, True, self._config.negative_ttl_seconds)
            return None
        manifest, weight = found
        if epoch == self._removed_epoch:  # not read just before a removal was announced
            self.manifests.put(deployment_id, manifest, weight)
        too_large = weight > self.manifests.max_weight
        if too_large and self._oversize_warned.get(deployment_id) is MISSING:
            self._oversize_warned.put(deployment_id, True, _OVERSIZE_WARNING_SECONDS)
            log.warning(
                "the manifest of %s (~%d MB in memory) is larger than the manifest cache "
                "(DP_EDGE_MANIFEST_CACHE_BYTES=%d): it is read from the store on every request",
                deployment_id,
                weight // 1_000_000,
                self.manifests.max_weight,
            )
        return manifest

    async def _blocking(self, function: Callable[[str], _T], argument: str) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, argument)

    def _read_alias(self, name: str) -> str | None:
        return self._alias_from_redis(name) or self._alias_from_store(name)

    def _from_redis(self, read: Callable[[PlatformState], str | None]) -> str | None:
        """One Redis read; None when Redis has no answer or is resting after a failure."""
        if self._state is None or self._clock() < self._redis_retry_at:
            return None
        try:
            return read(self._state)
        except redis.RedisError as exc:
            retry = self._config.redis_retry_seconds
            self._redis_retry_at = self._clock() + retry
            log.warning(
                "redis is unreachable (%s); reading aliases and domains from the object "
                "store for the next %gs",
                exc,
                retry,
            )
            return None

    def _alias_from_redis(self, name: str) -> str | None:
        target = self._from_redis(lambda state: state.get_alias(name))
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
        raw = self._pointer(key, "alias", name)
        if raw is None:
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

    # -- the store, with the disk copy for when it fails --------------------------------

    def _store_resting(self) -> bool:
        return self._disk is not None and self._clock() < self._store_retry_at

    def _store_failed(self, key: str, exc: ObjectStoreError) -> None:
        if self._disk is None:
            return
        if not self._store_resting():
            log.warning(
                "the object store failed reading %s (%s); serving the disk cache's copies "
                "(%s) where there are some",
                key,
                exc,
                self._disk.directory,
            )
        self._store_retry_at = self._clock() + STORE_RETRY_SECONDS

    def _pointer(self, key: str, kind: str, name: str) -> bytes | None:
        """A mutable pointer (alias, domain): the store's, else the last one it gave."""
        disk = self._disk
        if disk is not None and self._store_resting():
            copy = disk.read_pointer(kind, name)
            if copy is not None:
                return copy.encode() or None
        try:
            raw = self._store.get_bytes(key)
        except ObjectNotFound:
            # Only a name it had a copy for: random host names must not create files.
            if disk is not None and disk.read_pointer(kind, name) not in (None, _GONE):
                disk.put_pointer(kind, name, _GONE)
            return None
        except ObjectStoreError as exc:
            copy = disk.read_pointer(kind, name) if disk is not None else None
            if copy is None:
                raise
            self._store_failed(key, exc)
            return copy.encode() or None
        if disk is not None:
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                return raw  # broken: its reader says so, and no copy is kept
            if disk.read_pointer(kind, name) != text:
                disk.put_pointer(kind, name, text)
        return raw

    def _read_domain(self, hostname: str) -> str | None:
        project = self._from_redis(lambda state: state.get_domain(hostname))
        if project is not None:
            try:
                return validate_project_name(project)
            except InvalidName:
                log.error(
                    "redis domain %r holds %r, which is not a project; reading the object store",
                    hostname,
                    project,
                )
        raw = self._pointer(domain_key(hostname), "domain", hostname)
        if raw is None:
            return None
        try:
            return parse_domain_pointer(raw, hostname).project
        except InvalidDomainPointer as exc:
            raise BrokenSite(str(exc)) from exc

    def _read_history(self, alias: str) -> tuple[Replaced, ...]:
        if self._store_resting():
            return ()
        try:
            raw = self._store.get_bytes(alias_key(alias))
        except ObjectNotFound:
            return ()
        except ObjectStoreError as exc:
            if self._disk is None:
                raise
            self._store_failed(alias_key(alias), exc)
            return ()  # older deployments are a nicety; the current one still serves
        try:
            pointer = json.loads(raw)
        except ValueError:
            return ()  # the alias itself is broken; its lookup already says so
        return history_from_pointer(pointer) if isinstance(pointer, dict) else ()

    def _read_manifest(self, deployment_id: str) -> tuple[Manifest, int] | None:
        """The manifest and its estimated size in memory, or None when there is none."""
        key = manifest_key(deployment_id)
        raw = self._manifest_bytes(key, deployment_id)
        if raw is None:
            return None
        try:
            manifest = Manifest.from_json(raw)
        except InvalidManifest as exc:
            raise BrokenSite(f"manifest {key} cannot be read: {exc}") from exc
        if manifest.deployment != deployment_id:
            raise BrokenSite(f"manifest {key} belongs to deployment {manifest.deployment!r}")
        if self._disk is not None:
            self._disk.put_manifest(deployment_id, raw)
        return manifest, manifest_weight(len(raw), manifest)

    def _manifest_bytes(self, key: str, deployment_id: str) -> bytes | None:
        disk = self._disk
        if disk is not None and self._store_resting():
            copy = disk.read_manifest(deployment_id)
            if copy is not None:
                return copy
        try:
            return self._store.get_bytes(key)
        except ObjectNotFound:
            if disk is not None:
                disk.forget_manifest(deployment_id)  # removed: its copy must not serve it
            return None
        except ObjectStoreError as exc:
            copy = disk.read_manifest(deployment_id) if disk is not None else None
            if copy is None:
                raise
            self._store_failed(key, exc)
            return copy
