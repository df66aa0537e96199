"""A loopback stand-in for the Cloudflare API's KV values endpoint (aiohttp, own thread).

It answers `PUT|DELETE /client/v4/accounts/<account>/storage/kv/namespaces/<ns>/values/<key>`
the way Cloudflare documents (`{"success": true, "errors": [], ...}`), keeps the
values of two namespaces (NAMESPACE for aliases, DOMAINS_NAMESPACE for custom
domains; any other is "namespace not found"), and records every request so a
test can check its method, path, auth header and body. `failing` makes it
answer like an outage ("put": only writes fail; "all": deletes too). It runs its
own event loop in a thread, so sync code (the publisher, the control API's
executor) can call it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import pytest
from aiohttp import web

__all__ = ["KVRequest", "FakeCloudflareKV", "cloudflare_kv"]

ACCOUNT, NAMESPACE, TOKEN = "acc0123", "ns4567", "test-token-not-a-secret"
DOMAINS_NAMESPACE = "ns8901"


@dataclass(frozen=True)
class KVRequest:
    method: str
    path: str
    authorization: str | None
    content_type: str | None
    body: bytes


@dataclass
class FakeCloudflareKV:
    requests: list[KVRequest] = field(default_factory=list)
    namespaces: dict[str, dict[str, bytes]] = field(
        default_factory=lambda: {NAMESPACE: {}, DOMAINS_NAMESPACE: {}}
    )
    failing: Literal["no", "put", "all"] = "no"
    url: str = ""

    @property
    def values(self) -> dict[str, bytes]:
        """The alias namespace's values."""
        return self.namespaces[NAMESPACE]

    @property
    def domain_values(self) -> dict[str, bytes]:
        """The domain namespace's values."""
        return self.namespaces[DOMAINS_NAMESPACE]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            KVRequest(
                request.method,
                request.path,
                request.headers.get("Authorization"),
                request.headers.get("Content-Type"),
                body,
            )
        )
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _answer(403, False, [{"code": 10000, "message": "Authentication error"}])
        info = request.match_info
        values = self.namespaces.get(info["namespace"])
        if info["account"] != ACCOUNT or values is None:
            return _answer(404, False, [{"code": 10013, "message": "namespace not found"}])
        if self.failing == "all" or (self.failing == "put" and request.method == "PUT"):
            return _answer(500, False, [{"code": 10001, "message": "service unavailable"}])
        if request.method == "PUT":
            values[info["key"]] = body
        else:
            values.pop(info["key"], None)
        return _answer(200, True, [])


def _answer(status: int, success: bool, errors: list[dict[str, object]]) -> web.Response:
    payload = {"result": None, "success": success, "errors": errors, "messages": []}
    return web.json_response(payload, status=status)


@pytest.fixture
def cloudflare_kv() -> Iterator[FakeCloudflareKV]:
    """The stand-in API on a free loopback port; `.url` is its DP_CF_API_URL."""
    fake = FakeCloudflareKV()
    app = web.Application()
    route = "/client/v4/accounts/{account}/storage/kv/namespaces/{namespace}/values/{key}"
    app.router.add_route("PUT", route, fake.handle)
    app.router.add_route("DELETE", route, fake.handle)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}/client/v4"
    thread = threading.Thread(target=loop.run_forever, name="fake-cloudflare-kv", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
