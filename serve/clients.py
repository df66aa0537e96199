"""Opening the object store and Redis at start-up, loudly when misconfigured.

Bad configuration (a storage URL that cannot be opened or read, a Redis URL
that is not one) stops the edge at start-up with an `EdgeConfigError` naming
the setting, instead of answering every request with an error later -- unless
its disk cache holds copies from earlier runs: then a store that does not answer
is an outage to ride out (`serve.disk_cache`), and only a warning. A Redis
that is configured but down is only a warning: the edge reads aliases from the
object store until Redis answers again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import redis

from deploy_platform.contracts.manifest import alias_key
from deploy_platform.storage import ObjectStore, open_store
from deploy_platform.storage.redis_state import API_RETRIES, PlatformState
from serve.config import EdgeConfig, EdgeConfigError, redacted_url
from serve.disk_cache import has_copies

__all__ = ["open_checked_store", "open_state"]

log = logging.getLogger(__name__)

# Reading a key that need not exist proves the store is reachable and readable.
_PROBE_KEY = alias_key("edge-startup-check")


def open_checked_store(config: EdgeConfig) -> ObjectStore:
    """The configured store, after one read shows it answers; raises `EdgeConfigError`."""
    where = redacted_url(config.storage_url)
    try:
        store = open_store(
            config.storage_url, config.storage_access_key_id, config.storage_secret_access_key
        )
    except Exception as exc:
        raise EdgeConfigError(
            f"cannot open the object store DP_STORAGE_URL={where}: {exc}"
        ) from exc
    try:
        store.head(_PROBE_KEY)
    except Exception as exc:
        if config.disk_cache_on and has_copies(Path(config.disk_cache_dir)):
            log.warning(
                "cannot read the object store DP_STORAGE_URL=%s (%s): serving what the disk "
                "cache %s holds until it answers",
                where,
                exc,
                config.disk_cache_dir,
            )
            return store
        store.close()
        raise EdgeConfigError(
            f"cannot read the object store DP_STORAGE_URL={where} ({store.description}): {exc}"
        ) from exc
    return store


def open_state(config: EdgeConfig) -> PlatformState | None:
    """Redis for the alias index, or None when no Redis is configured."""
    if not config.redis_url:
        return None
    where = redacted_url(config.redis_url)
    try:
        # The short retry budget: a request never waits on a Redis that is down.
        state = PlatformState.from_url(
            config.redis_url,
            config.redis_prefix,
            timeout=config.redis_timeout_seconds,
            budget=API_RETRIES,
        )
    except ValueError as exc:
        raise EdgeConfigError(f"DP_REDIS_URL={where} is not a Redis URL: {exc}") from exc
    try:
        state.ping()
    except redis.RedisError as exc:
        log.warning(
            "redis at %s does not answer (%s); aliases come from the object store until it does",
            where,
            exc,
        )
    return state
