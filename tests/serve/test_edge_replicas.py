"""Several edge-origins (separate `python -m serve` processes, as on several machines)
sharing one Redis and one object store: an alias move reaches every one of them.

Their alias cache is set to an hour, so only Redis pub/sub (the `alias-changed`
channel every edge subscribes to) can make them serve the new deployment.
"""

from __future__ import annotations

import http.client
from pathlib import Path

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.deployments import point_alias, write_deployment
from tests.support.edge_process import EdgeProcess, serve_process
from tests.support.waiting import until

_WAIT = 30.0


def body_at(edge: EdgeProcess, host: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        assert response.status == 200, (response.status, edge.log_text())
        return response.read()
    finally:
        connection.close()


def wait_for_body(edge: EdgeProcess, host: str, expected: bytes) -> None:
    until(
        lambda: body_at(edge, host),
        lambda seen: seen == expected,
        timeout=_WAIT,
        message=lambda seen: f"still {seen!r}; log:\n{edge.log_text()}",
    )


def test_an_alias_move_is_seen_by_every_edge_origin(
    local_store_root: Path, redis_server: RedisServer, state: PlatformState
) -> None:
    store = LocalObjectStore(local_store_root)
    first, second = new_deployment_id(), new_deployment_id()
    write_deployment(store, first, {"/index.html": b"<h1>first</h1>"})
    write_deployment(store, second, {"/index.html": b"<h1>second</h1>"})
    point_alias(store, state, "docs", first)
    settings = {"DP_EDGE_ALIAS_TTL_SECONDS": "3600"}

    with (
        serve_process(local_store_root, redis_server.url, state.prefix, **settings) as one,
        serve_process(local_store_root, redis_server.url, state.prefix, **settings) as two,
    ):
        assert one.process.pid != two.process.pid and one.port != two.port
        # Both look the alias up once and cache it for the hour.
        assert body_at(one, "docs.localhost") == body_at(two, "docs.localhost") == b"<h1>first</h1>"

        point_alias(store, state, "docs", second)

        wait_for_body(one, "docs.localhost", b"<h1>second</h1>")
        wait_for_body(two, "docs.localhost", b"<h1>second</h1>")
        # And back (a rollback), seen by both again.
        point_alias(store, state, "docs", first)
        wait_for_body(one, "docs.localhost", b"<h1>first</h1>")
        wait_for_body(two, "docs.localhost", b"<h1>first</h1>")
