"""Ready-made answers (`serve.answers`): the same bytes as the full pipeline, never a stale one.

The edge runs as `python -m serve` runs it (`AnswerSite` in front of the app), and
the client speaks raw HTTP/1.1 over one keep-alive connection, so a test sees
exactly which bytes come back and in which order.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from aiohttp import web

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from serve.answers import AnswerCache, AnswerSite
from serve.app import create_app
from serve.appkeys import ANSWERS, FOLLOWER
from serve.config import EdgeConfig
from tests.support.deployments import point_alias, write_deployment

_DATE = re.compile(rb"\r\nDate: [^\r]*")


@dataclass
class Edge:
    port: int
    answers: AnswerCache
    app: web.Application

    async def connect(self) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        return Connection(reader, writer)


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def send(self, *requests: bytes) -> None:
        self.writer.write(b"".join(requests))

    async def answer(self, head_only: bool = False) -> bytes:
        """One whole response (head and body) as bytes, with the Date line removed."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        length = re.search(rb"\r\nContent-Length: (\d+)", head)
        body = b""
        if length and not head_only and not head.startswith(b"HTTP/1.1 304"):
            body = await asyncio.wait_for(self.reader.readexactly(int(length.group(1))), 10)
        return _DATE.sub(b"", head + body)

    async def until_a_hit(self, request: bytes, answers: AnswerCache) -> list[bytes]:
        """Send `request` until the answer cache answers it (aiohttp takes a connection
        until it is idle again); every answer received."""
        received: list[bytes] = []
        hits = answers.hits
        while answers.hits == hits and len(received) < 20:
            self.send(request)
            received.append(await self.answer(head_only=request.startswith(b"HEAD")))
        assert answers.hits == hits + 1
        return received

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def get(host: str, path: str = "/", method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\n{extra}\r\n".encode()


@pytest.fixture
def keepalive_timeout() -> float:
    return 75.0  # aiohttp's default


@pytest.fixture
async def edge(
    edge_config: EdgeConfig, state: PlatformState, keepalive_timeout: float
) -> AsyncIterator[Edge]:
    app = create_app(replace(edge_config, alias_ttl_seconds=300.0))
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=keepalive_timeout)
    await runner.setup()
    answers = app[ANSWERS]
    site = AnswerSite(runner, "127.0.0.1", 0, answers)
    await site.start()
    follower = app[FOLLOWER]
    assert follower is not None
    await asyncio.to_thread(follower.subscribed.wait, 10)
    try:
        yield Edge(runner.addresses[0][1], answers, app)
    finally:
        await runner.cleanup()


@pytest.fixture
def site(store: LocalObjectStore, state: PlatformState) -> str:
    deployment = new_deployment_id()
    write_deployment(
        store,
        deployment,
        {"/index.html": b"<h1>home</h1>", "/about.html": b"<h1>about</h1>", "/a.css": b"a{}"},
    )
    point_alias(store, state, "docs", deployment)
    return deployment


async def test_a_repeated_request_gets_the_same_bytes_from_the_answer_cache(
    edge: Edge, site: str
) -> None:
    connection = await edge.connect()
    for method in ("GET", "HEAD"):
        connection.send(get("docs.localhost", method=method))
        first = await connection.answer(head_only=method == "HEAD")
        again = await connection.until_a_hit(get("docs.localhost", method=method), edge.answers)
        assert set(again) == {first}  # from aiohttp and from the answer cache alike
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert first.endswith(b"\r\n\r\n")  # HEAD: no body
    await connection.close()


async def test_the_date_is_current_on_a_cached_answer(edge: Edge, site: str) -> None:
    connection = await edge.connect()
    connection.send(get("docs.localhost"))
    await connection.answer()
    await connection.until_a_hit(get("docs.localhost"), edge.answers)
    connection.send(get("docs.localhost"))
    head = await connection.reader.readuntil(b"\r\n\r\n")
    date = re.search(rb"\r\nDate: (\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT)\r\n", head)
    assert date
    sent = parsedate_to_datetime(date.group(1).decode())
    assert abs((sent - datetime.now(UTC)).total_seconds()) < 5
    await connection.close()


async def test_conditional_and_unusual_requests_take_the_full_pipeline(
    edge: Edge, site: str
) -> None:
    connection = await edge.connect()
    connection.send(get("docs.localhost"))
    full = await connection.answer()
    await connection.until_a_hit(get("docs.localhost"), edge.answers)
    etag = re.search(rb"ETag: (\"[^\"]+\")", full)
    assert etag
    hits = edge.answers.hits
    connection.send(get("docs.localhost", extra=f"If-None-Match: {etag.group(1).decode()}\r\n"))
    assert (await connection.answer()).startswith(b"HTTP/1.1 304 ")
    connection.send(get("docs.localhost", extra="X-Forwarded-Host: other.localhost\r\n"))
    assert (await connection.answer()).startswith(b"HTTP/1.1 200 ")
    connection.send(get("docs.localhost", extra="Accept-Encoding: gzip\r\n"))
    assert (await connection.answer()).startswith(b"HTTP/1.1 200 ")
    connection.send(get("DOCS.localhost"))  # another spelling is another key
    assert (await connection.answer()).startswith(b"HTTP/1.1 200 ")
    assert edge.answers.hits == hits
    await connection.close()


async def test_an_alias_move_is_never_answered_from_the_cache(
    edge: Edge, site: str, store: LocalObjectStore, state: PlatformState
) -> None:
    connection = await edge.connect()
    connection.send(get("docs.localhost"))
    assert (await connection.answer()).endswith(b"<h1>home</h1>")
    cached = await connection.until_a_hit(get("docs.localhost"), edge.answers)
    assert cached[-1].endswith(b"<h1>home</h1>")
    newer = new_deployment_id()
    write_deployment(store, newer, {"/index.html": b"<h1>new home</h1>"})
    epoch = edge.answers.epoch()
    point_alias(store, state, "docs", newer)
    # The announcement arrives over Redis pub/sub; the TTL is 300 s.
    for _ in range(200):
        if edge.answers.epoch() != epoch:
            break
        await asyncio.sleep(0.05)
    connection.send(get("docs.localhost"))
    assert (await connection.answer()).endswith(b"<h1>new home</h1>")
    await connection.close()


async def test_pipelined_hits_and_misses_are_answered_in_order(edge: Edge, site: str) -> None:
    connection = await edge.connect()
    for path in ("/", "/a.css"):
        connection.send(get("docs.localhost", path))
        await connection.answer()
        await connection.until_a_hit(get("docs.localhost", path), edge.answers)
    hits = edge.answers.hits
    # hit, miss (first time), hit, miss (404), hit: one write, five answers.
    connection.send(
        get("docs.localhost", "/"),
        get("docs.localhost", "/about"),
        get("docs.localhost", "/a.css"),
        get("docs.localhost", "/missing.css"),  # a missing file, not an app route
        get("docs.localhost", "/"),
    )
    answers = [await connection.answer() for _ in range(5)]
    assert answers[0].endswith(b"<h1>home</h1>")
    assert answers[1].endswith(b"<h1>about</h1>")
    assert answers[2].endswith(b"a{}")
    assert answers[3].startswith(b"HTTP/1.1 404 ")
    assert answers[4].endswith(b"<h1>home</h1>")
    assert edge.answers.hits == hits + 1  # only the first; the rest went to aiohttp in order

    # Once aiohttp has answered everything, the connection gets the fast path again.
    again = await connection.until_a_hit(get("docs.localhost", "/about"), edge.answers)
    assert set(again) == {answers[1]}
    await connection.close()


async def test_a_request_with_a_body_is_left_to_aiohttp(edge: Edge, site: str) -> None:
    connection = await edge.connect()
    connection.send(get("docs.localhost"))
    await connection.answer()
    await connection.until_a_hit(get("docs.localhost"), edge.answers)
    connection.send(
        b"POST / HTTP/1.1\r\nHost: docs.localhost\r\nContent-Length: 5\r\n\r\nhello",
        get("docs.localhost"),
    )
    assert (await connection.answer()).startswith(b"HTTP/1.1 405 ")
    assert (await connection.answer()).endswith(b"<h1>home</h1>")
    await connection.close()


@pytest.mark.parametrize("keepalive_timeout", [0.3])
async def test_a_connection_kept_busy_by_cached_answers_stays_open(
    edge: Edge, site: str, keepalive_timeout: float
) -> None:
    connection = await edge.connect()
    connection.send(get("docs.localhost"))
    await connection.answer()
    await connection.until_a_hit(get("docs.localhost"), edge.answers)
    hits = edge.answers.hits
    loop = asyncio.get_running_loop()
    until = loop.time() + 4 * keepalive_timeout
    while loop.time() < until:  # busy far longer than the idle timeout
        connection.send(get("docs.localhost"))
        assert (await connection.answer()).endswith(b"<h1>home</h1>")
        await asyncio.sleep(0.02)
    assert edge.answers.hits > hits
    # Idle, it is closed as usual.
    assert await asyncio.wait_for(connection.reader.read(), 10) == b""
    await connection.close()
