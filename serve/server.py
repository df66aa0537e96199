"""One edge-origin process: the app on one address until SIGINT or SIGTERM.

Used directly by `python -m serve --workers 1`, and by every worker process of
`serve.workers`, which bind the same port with SO_REUSEPORT so that the kernel
spreads new connections over them. `on_ready` is called once the socket
listens, with the address actually bound (a worker tells its parent there).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from serve.answers import AnswerSite
from serve.app import create_app
from serve.appkeys import ANSWERS
from serve.config import EdgeConfig

__all__ = ["ACCESS_LOG_FORMAT", "serve_until_stopped", "run_event_loop"]

# aiohttp's default line plus the pid (%P): with several workers, the line says
# which process answered.
ACCESS_LOG_FORMAT = '%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i" pid=%P'

ReadyCallback = Callable[[str, int], None]


async def serve_until_stopped(
    config: EdgeConfig,
    host: str,
    port: int,
    *,
    access_log: bool = False,
    reuse_port: bool = False,
    on_ready: ReadyCallback | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, then finish the requests in flight and close the clients.

    Raises `EdgeConfigError` when the store or Redis cannot be opened and
    `OSError` when the address cannot be bound.
    """
    app = create_app(config)
    runner = web.AppRunner(
        app,
        access_log=logging.getLogger("serve.access") if access_log else None,
        access_log_format=ACCESS_LOG_FORMAT,
        # aiohttp's keep-alive timer also runs while a request's head is arriving
        # (it closes a connection that has no whole request by then): that is the
        # header timeout. A half-sent request is closed, not kept open for an hour.
        keepalive_timeout=config.header_timeout_seconds,
    )
    await runner.setup()  # opens the store and Redis; bad configuration raises here
    # Everything alive now (aiohttp, boto3, botocore's models: ~100,000 objects)
    # lives as long as the process. Frozen, a full collection skips it: one took
    # 50-200 ms here, a stall every request in flight would wait for.
    gc.collect()
    gc.freeze()
    try:
        site: web.BaseSite
        if ANSWERS in app and not access_log:
            site = AnswerSite(runner, host, port, app[ANSWERS], reuse_port=reuse_port)
        else:
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if on_ready is not None:
            on_ready(str(bound_host), int(bound_port))
        await stop.wait()
    finally:
        await runner.cleanup()


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` to its end on a fresh event loop: uvloop's when installed (it is a
    dependency; ~15% more requests/s than asyncio's loop, benchmarks/RESULTS.md)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency, but serving must not need it
        asyncio.run(main)
        return
    uvloop.run(main)
