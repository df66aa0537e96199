"""The aiohttp application: one catch-all route, clients opened and closed with the app.

Start-up (`cleanup_ctx`) opens, in order: the I/O thread pool, the object store
(checked with one read), the disk cache (optional), Redis (optional), and the
thread that follows alias moves; shut-down closes them in reverse.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from aiohttp import web

from serve.answers import AnswerCache, install_answer_recording
from serve.appkeys import ANSWERS, BODIES, CONFIG, EXECUTOR, FOLLOWER, LOOKUP, STATE, STORE
from serve.bodies import BodyReader
from serve.clients import open_checked_store, open_state
from serve.config import EdgeConfig, EdgeConfigError
from serve.disk_cache import DiskCache
from serve.handler import handle
from serve.invalidation import AliasFollower
from serve.lookup import DeploymentLookup

__all__ = ["create_app"]


def create_app(
    config: EdgeConfig,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> web.Application:
    """The edge-origin app.

    `clock` (monotonic seconds) drives the alias and negative caches; `wall_clock`
    (Unix seconds) measures the skew grace period against the alias pointers' stamps.
    """
    app = web.Application()
    app[CONFIG] = config
    app.cleanup_ctx.append(partial(_clients, clock=clock, wall_clock=wall_clock))
    # Every method and path reaches the handler, so even 405s and odd paths get
    # the platform's pages rather than aiohttp's defaults.
    app.router.add_route("*", "/{path:.*}", handle)
    if config.answer_cache_bytes > 0:
        answers = AnswerCache(config.answer_cache_bytes, config.alias_ttl_seconds, clock=clock)
        app[ANSWERS] = answers
        install_answer_recording(app, answers)
    return app


async def _clients(
    app: web.Application, *, clock: Callable[[], float], wall_clock: Callable[[], float]
) -> AsyncIterator[None]:
    """Open the store, Redis and the I/O threads at start-up; close them at shut-down."""
    config = app[CONFIG]
    executor = ThreadPoolExecutor(max_workers=config.io_threads, thread_name_prefix="edge-io")
    loop = asyncio.get_running_loop()
    try:
        store = await loop.run_in_executor(executor, open_checked_store, config)
        try:
            disk = (
                await loop.run_in_executor(executor, _open_disk_cache, config)
                if config.disk_cache_on
                else None
            )
            state = await loop.run_in_executor(executor, open_state, config)
        except BaseException:
            store.close()
            raise
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    app[EXECUTOR] = executor
    app[STORE] = store
    app[STATE] = state
    lookup = DeploymentLookup(store, state, executor, config, clock, wall_clock, disk=disk)
    app[LOOKUP] = lookup
    if ANSWERS in app:
        app[ANSWERS].follow(lookup)
    app[BODIES] = BodyReader(store, executor, config, disk)
    follower = AliasFollower(config, lookup, loop) if state is not None else None
    if follower is not None:
        follower.start()
    app[FOLLOWER] = follower
    try:
        yield
    finally:
        if follower is not None:
            follower.stop()
        if state is not None:
            state.redis.close()
        await loop.run_in_executor(executor, store.close)
        executor.shutdown(wait=False, cancel_futures=True)


def _open_disk_cache(config: EdgeConfig) -> DiskCache:
    try:
        return DiskCache(Path(config.disk_cache_dir), config.disk_cache_bytes)
    except OSError as exc:
        raise EdgeConfigError(
            f"cannot use DP_EDGE_DISK_CACHE_DIR={config.disk_cache_dir}: {exc}"
        ) from exc
