"""Typed application state, and running blocking work off the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from deploy_platform.publish.cloudflare_kv import KVAliasIndex, KVDomainIndex
from deploy_platform.settings.platform import Settings
from deploy_platform.source.repo_url import AllowList
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "SETTINGS",
    "GIT_ALLOW",
    "STATE",
    "STORE",
    "EXECUTOR",
    "DOMAIN_INDEX",
    "ALIAS_INDEX",
    "UNSIGNED_PARSES",
    "blocking",
]

T = TypeVar("T")

SETTINGS = web.AppKey("settings", Settings)
# DP_GIT_ALLOW_HOSTS, parsed once at start-up so a typo in it is loud there.
GIT_ALLOW = web.AppKey("git_allow", AllowList)
STATE = web.AppKey("state", PlatformState)
STORE = web.AppKey("store", ObjectStore)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
# The Worker's KV domain index; absent when DP_CF_KV_DOMAINS_NAMESPACE_ID is not set.
DOMAIN_INDEX = web.AppKey("domain_index", KVDomainIndex)
# The Worker's KV alias index, for aliases the API moves (rollback, promote) or takes
# down (webhook); absent without the DP_CF_* settings.
ALIAS_INDEX = web.AppKey("alias_index", KVAliasIndex)
# Parses of webhook bodies not yet proven signed run one at a time: however many
# arrive together, one parsed body at most is in memory (deploy_platform.api.webhook_intake).
UNSIGNED_PARSES = web.AppKey("unsigned_parses", asyncio.Semaphore)


async def blocking(app: web.Application, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call (Redis, git, DNS, disk, the store) in the app's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(app[EXECUTOR], functools.partial(fn, *args, **kwargs))
