"""Forget a cached alias, custom domain or removed deployment the moment it changes.

Every alias move publishes the alias name on the Redis channel
`<prefix>alias-changed` (`PlatformState.set_alias`), and every custom domain
added or removed publishes the hostname on `<prefix>domain-changed`
(`PlatformState.set_domain` / `delete_domain`). The edge listens on both and
drops its cached answer, so a new production deployment or a new domain is
served at once instead of after the TTL. The TTL stays the backstop: messages
sent while the subscription is down (Redis restarting) are lost, so every time
a subscription is confirmed, the whole alias and domain caches are dropped.

Manifests are immutable and cached without a TTL, so a deployment retention
removes (`deploy-platform gc`) is announced on `<prefix>deployment-removed`
with its id, and the edge drops its manifest; on every confirmed subscription
every cached manifest is dropped, since a removal may have been missed.

The listener is a daemon thread with the blocking Redis client (like every
other Redis call of the edge) that hands each name to the event loop; it polls
a stop flag between short waits, so shutting down never depends on cancelling
a read inside the Redis client.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import redis

from serve.config import EdgeConfig, redacted_url
from serve.lookup import DeploymentLookup

__all__ = ["AliasFollower", "alias_channel", "domain_channel", "removed_channel"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.5


def alias_channel(prefix: str) -> str:
    """The channel `PlatformState.set_alias` publishes on (`state.key("alias-changed")`)."""
    return prefix + "alias-changed"


def domain_channel(prefix: str) -> str:
    """The channel `PlatformState.set_domain` publishes on (`state.key("domain-changed")`)."""
    return prefix + "domain-changed"


def removed_channel(prefix: str) -> str:
    """The channel retention publishes a removed deployment's id on."""
    return prefix + "deployment-removed"


class AliasFollower:
    """Subscribes to alias moves and domain changes; the lookup forgets them on its loop."""

    def __init__(
        self, config: EdgeConfig, lookup: DeploymentLookup, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._config = config
        self._lookup = lookup
        self._loop = loop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-alias-follower", daemon=True)
        #: Set whenever a subscription is confirmed (tests wait on it).
        self.subscribed = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end; it does within one poll interval, nobody waits for it."""
        self._stop.set()

    def _run(self) -> None:
        config = self._config
        client = redis.Redis.from_url(
            config.redis_url,
            socket_connect_timeout=config.redis_timeout_seconds,
            socket_timeout=max(config.redis_timeout_seconds, _POLL_SECONDS * 2),
        )
        healthy = True
        try:
            while not self._stop.is_set():
                try:
                    self._listen(client)
                except (redis.RedisError, OSError) as exc:
                    self.subscribed.clear()
                    if healthy:
                        log.warning(
                            "cannot follow alias moves on redis %s (%s); cached aliases "
                            "expire after %gs until it is back",
                            redacted_url(config.redis_url),
                            exc,
                            config.alias_ttl_seconds,
                        )
                    healthy = False
                    self._stop.wait(max(config.redis_retry_seconds, _POLL_SECONDS))
                    continue
                healthy = True
        finally:
            client.close()

    def _listen(self, client: redis.Redis[bytes]) -> None:
        pubsub = client.pubsub()
        try:
            aliases = alias_channel(self._config.redis_prefix)
            domains = domain_channel(self._config.redis_prefix)
            removed = removed_channel(self._config.redis_prefix)
            pubsub.subscribe(aliases, domains, removed)
            confirmed: set[str] = set()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=_POLL_SECONDS)
                if message is None:
                    continue
                channel = _text(message["channel"])
                if message["type"] == "subscribe":
                    self._hand_over(None, None)
                    confirmed.add(channel)
                    if confirmed >= {aliases, domains, removed}:
                        self.subscribed.set()
                elif message["type"] == "message":
                    name = _text(message["data"])
                    if channel == removed:
                        self._call(self._lookup.forget_deployment, name)
                    elif channel == domains:
                        self._hand_over(None, name)
                    else:
                        self._hand_over(name, None)
        finally:
            pubsub.close()

    def _hand_over(self, alias: str | None, domain: str | None) -> None:
        """Forget one alias or domain (or everything, for neither) on the caches' loop."""
        lookup = self._lookup
        try:
            if alias is not None:
                self._loop.call_soon_threadsafe(lookup.forget_alias, alias)
            elif domain is not None:
                self._loop.call_soon_threadsafe(lookup.forget_domain, domain)
            else:
                self._loop.call_soon_threadsafe(lookup.forget_aliases)
                self._loop.call_soon_threadsafe(lookup.forget_domains)
                self._loop.call_soon_threadsafe(lookup.forget_manifests)
        except RuntimeError:  # the loop is closed: the app is gone
            self._stop.set()

    def _call(self, forget: Callable[[str], None], name: str) -> None:
        try:
            self._loop.call_soon_threadsafe(forget, name)
        except RuntimeError:  # the loop is closed: the app is gone
            self._stop.set()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
