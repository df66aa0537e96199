"""Ready-made answers for repeated requests, written to the socket without aiohttp's pipeline.

Why: a cached small file still costs aiohttp ~200 µs of Python per request
(request object, routing, the handler's host/path/rules/header steps, response
object, header serialization); the same answer as bytes costs ~20 µs. At the
traffic a popular page sees, that is the difference between one core doing
~5,000 and ~30,000 requests/s (benchmarks/RESULTS.md).

How: every connection is accepted by `AnswerProtocol`, which wraps aiohttp's own
protocol. For each complete request it sees, it builds a key and looks in the
`AnswerCache`; on a hit it writes the stored status line, headers (with a fresh
Date) and body. Anything else — a miss, a request it does not fully
understand, a request with a body, pipelined data it cannot split safely —
is handed to aiohttp with every byte not yet answered, and the connection
stays with aiohttp from then on, so answers never overtake each other.

What is stored: after aiohttp has prepared a response (`on_response_prepare`),
the exact status line and headers it is about to send and the body, for
  - GET/HEAD over HTTP/1.1 keep-alive with no request body,
  - requests whose headers are all in `_IGNORED` (they cannot change an answer)
    apart from Host and Accept-Encoding, which are part of the key with the
    method and the raw target (path and query as sent): a conditional request,
    a Range, X-Forwarded-*, Authorization ... always takes the full pipeline,
  - whole in-memory bodies (`web.Response` with bytes, no streaming, no
    compression applied by aiohttp), or no body at all (HEAD), status 200.
So a hit is byte for byte what aiohttp would send (Date aside), and the
request/answer rules stay in one place: the handler.

Freshness: deployments, manifests and blobs never change, so only what a host
points at can. An answer is kept at most `alias_ttl_seconds` (the time the alias
cache itself trusts an answer), and every alias invalidation (a pub/sub
announcement, `DeploymentLookup.alias_epoch`) drops them all; an answer built
by a request that started before an invalidation is not stored.

The cache is bounded by `answer_cache_bytes` (LRU, per worker process); 0 turns
the whole fast path off. With `--access-log` it is off too (aiohttp logs).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from email.utils import formatdate
from typing import cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from serve.cache import MISSING, LRUCache
from serve.lookup import DeploymentLookup

__all__ = ["AnswerCache", "AnswerProtocol", "AnswerSite", "install_answer_recording"]

_MAX_HEAD = 8192
_MAX_HEADERS = 64
# Headers that never change what the edge answers. Host and Accept-Encoding are
# part of the key; a request with any other header takes the full pipeline.
# CONTRACT: a pipeline step that starts reading one of these headers must take
# it out of this list, or its answers would be served to requests they do not fit.
_IGNORED = frozenset(
    {
        b"user-agent",
        b"accept",
        b"accept-language",
        b"accept-charset",
        b"cache-control",
        b"pragma",
        b"referer",
        b"cookie",
        b"dnt",
        b"upgrade-insecure-requests",
        b"priority",
        b"sec-fetch-dest",
        b"sec-fetch-mode",
        b"sec-fetch-site",
        b"sec-fetch-user",
        b"sec-ch-ua",
        b"sec-ch-ua-mobile",
        b"sec-ch-ua-platform",
        b"sec-gpc",
    }
)
_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_TARGET = re.compile(rb"^/[\x21-\x7e]*$")
_VALUE = re.compile(rb"^[\t\x20-\x7e]*$")

Key = tuple[bytes, bytes, bytes, bytes]  # method, raw target, Host, Accept-Encoding


@dataclass(frozen=True, slots=True)
class Answer:
    before_date: bytes  # status line and the headers before Date, CRLF-terminated
    after_date: bytes  # the headers after Date, the blank line, and the body
    epoch: int
    expires: float

    @property
    def size(self) -> int:
        return len(self.before_date) + len(self.after_date) + 64


class AnswerCache:
    """Answers by key, valid while the alias epoch is unchanged and for at most `ttl` seconds."""

    def __init__(
        self, max_bytes: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: LRUCache[Key, Answer] = LRUCache(max_bytes, weigh=lambda a: a.size)
        self.max_bytes = max_bytes
        self._ttl = ttl
        self._clock = clock
        self._lookup: DeploymentLookup | None = None
        self._date_second = -1
        self._date = b""
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def follow(self, lookup: DeploymentLookup) -> None:
        """Trust answers only while `lookup` keeps its cached aliases (see `epoch`)."""
        self._lookup = lookup

    def epoch(self) -> int:
        """The lookup's alias epoch; -1 (nothing is stored) before `follow`."""
        return self._lookup.alias_epoch if self._lookup is not None else -1

    def answer(self, key: Key) -> tuple[bytes, bytes, bytes] | None:
        """The answer to send, in three parts (to join or write as they are), or None."""
        found = self._entries.get(key)
        if found is MISSING:
            return None
        if found.epoch != self.epoch() or self._clock() >= found.expires:
            return None  # the next answer aiohttp prepares for this key replaces it
        self.hits += 1
        return found.before_date, self._date_line(), found.after_date

    def store(self, key: Key, head_lines: list[bytes], body: bytes, epoch: int) -> None:
        """Keep an answer aiohttp prepared; `head_lines` are its status line and header lines."""
        if self._ttl <= 0 or epoch < 0 or epoch != self.epoch():
            return
        date_at = next(
            (i for i, line in enumerate(head_lines) if line[:5].lower() == b"date:"), None
        )
        if date_at is None:
            return
        answer = Answer(
            before_date=b"".join(line + b"\r\n" for line in head_lines[:date_at]),
            after_date=b"".join(line + b"\r\n" for line in head_lines[date_at + 1 :])
            + b"\r\n"
            + body,
            epoch=epoch,
            expires=self._clock() + self._ttl,
        )
        self._entries.put(key, answer)

    def _date_line(self) -> bytes:
        now = int(time.time())
        if now != self._date_second:
            # The format aiohttp writes (RFC 9110 IMF-fixdate), once per second.
            self._date = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
            self._date_second = now
        return self._date


def request_key(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> Key | None:
    """The cache key of a request, or None when its answer may depend on more than the key."""
    if method not in (b"GET", b"HEAD") or not _TARGET.match(target):
        return None
    host: bytes | None = None
    encoding = b""
    seen_encoding = False
    for name, value in headers:
        lower = name.lower()
        if lower == b"host":
            if host is not None:
                return None
            host = value
        elif lower == b"accept-encoding":
            if seen_encoding:
                return None
            seen_encoding, encoding = True, value
        elif lower == b"connection":
            if value.lower() != b"keep-alive":
                return None
        elif lower not in _IGNORED:
            return None
    if not host:
        return None
    return (method, target, host, encoding)


def _parse_head(head: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]] | None:
    """Method, target and headers of a request head; None for anything not plainly HTTP/1.1."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or len(lines) > _MAX_HEADERS + 1:
        return None
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            return None  # also obs-fold continuation lines, which start with a space
        value = value.strip(b" \t")
        if not _VALUE.match(value):
            return None
        headers.append((name, value))
    return parts[0], parts[1], headers


def _bodyless_requests(data: bytes) -> bool:
    """True when `data` is whole request heads only, none announcing a body."""
    position = 0
    while position < len(data):
        end = data.find(b"\r\n\r\n", position, position + _MAX_HEAD)
        if end < 0:
            return False
        parsed = _parse_head(data[position:end])
        if parsed is None or parsed[0] not in (b"GET", b"HEAD"):
            return False
        if any(name.lower() in _BODY_HEADERS for name, _value in parsed[2]):
            return False
        position = end + 4
    return True


_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


class AnswerProtocol(asyncio.Protocol):
    """Answers cached requests itself, hands the others to aiohttp, in order.

    After a miss the connection belongs to aiohttp until aiohttp has answered
    everything it was given (its protocol waits for the next request); only then,
    and only if it was given whole bodyless requests (nothing half-parsed), do
    new requests on the connection get the fast path again.
    """

    __slots__ = (
        "_inner",
        "_cache",
        "_transport",
        "_buffer",
        "_delegated",
        "_resumable",
        "_held",
        "_waits",
    )

    def __init__(self, inner: RequestHandler, cache: AnswerCache) -> None:
        self._inner = inner
        self._cache = cache
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._delegated = False
        self._resumable = False
        self._held: bytes | None = None  # requests waiting for aiohttp to become idle
        self._waits = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._held is not None:
            self._held += data
        elif not self._delegated:
            self._answer(data)
        elif self._resumable and _idle(self._inner):
            self._delegated = False
            self._answer(data)
        elif self._resumable and _bodyless_requests(data):
            # aiohttp has usually written its answer already and only needs a turn
            # of the loop to wait for the next request: give it a few turns.
            self._held, self._waits = data, 0
            asyncio.get_running_loop().call_soon(self._retry)
        else:
            self._resumable = False
            self._inner.data_received(data)

    def _retry(self) -> None:
        data = self._held
        if data is None or self._transport is None or self._transport.is_closing():
            self._held = None
            return
        if _idle(self._inner):
            self._held, self._delegated = None, False
            self._answer(data)
        elif self._waits < _IDLE_WAITS:
            self._waits += 1
            asyncio.get_running_loop().call_soon(self._retry)
        else:
            self._held = None
            self._resumable = _bodyless_requests(data)
            self._inner.data_received(data)

    def _answer(self, data: bytes) -> None:
        """Answer what the cache can, from the start of `data`; hand the rest to aiohttp."""
        buffer = self._buffer + data if self._buffer else data
        transport = self._transport
        assert transport is not None
        while buffer:
            end = buffer.find(b"\r\n\r\n", 0, _MAX_HEAD)
            if end < 0:
                if len(buffer) >= _MAX_HEAD:
                    break  # aiohttp answers an oversized head properly
                self._buffer = buffer
                return
            parsed = _parse_head(buffer[:end])
            key = request_key(*parsed) if parsed is not None else None
            answer = self._cache.answer(key) if key is not None else None
            if answer is None:
                break
            if len(answer[2]) > _COPY_LIMIT:
                transport.writelines(answer)  # a vectored write, the body is not copied
            else:
                transport.write(b"".join(answer))
            buffer = buffer[end + 4 :]
            # A client that does not read what we write gets aiohttp's flow control.
            if transport.get_write_buffer_size() > _MAX_UNREAD:
                break
        else:
            self._buffer = b""
            self._keep_open()
            return
        self._keep_open()
        self._buffer = b""
        self._delegated = True
        self._resumable = _bodyless_requests(buffer)
        self._inner.data_received(buffer)

    def _keep_open(self) -> None:
        """Tell aiohttp the connection is in use: its keep-alive timer (started when the
        connection opened) would otherwise close a connection we keep busy."""
        timeout = self._inner.keepalive_timeout
        if timeout > 0:
            with suppress(AttributeError):  # aiohttp internals (3.14); see `_idle`
                self._inner._next_keepalive_close_time = (  # type: ignore[attr-defined]
                    asyncio.get_running_loop().time() + timeout
                )

    def eof_received(self) -> bool | None:
        self._inner.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


_MAX_UNREAD = 1 << 20
_COPY_LIMIT = 16 * 1024
_IDLE_WAITS = 4


def _idle(inner: RequestHandler) -> bool:
    """aiohttp's protocol has answered all it was given and waits for the next request.

    Reads aiohttp internals (checked against 3.14); if they ever change, this says
    "not idle" and connections simply stay with aiohttp after their first miss.
    """
    waiter = getattr(inner, "_waiter", None)
    messages = getattr(inner, "_messages", None)
    return (
        waiter is not None
        and not waiter.done()
        and messages is not None
        and not messages
        and getattr(inner, "_request_in_progress", True) is False
    )


class AnswerSite(web.BaseSite):
    """A TCP site whose connections go through `AnswerProtocol` first."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        cache: AnswerCache,
        *,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner)
        self._host_name = host
        self._port_number = port
        self._cache = cache
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        return f"http://{self._host_name}:{self._port_number}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        cache = self._cache

        def protocol() -> AnswerProtocol:
            return AnswerProtocol(server(), cache)  # type: ignore[arg-type]

        self._server = await loop.create_server(
            protocol,
            self._host_name,
            self._port_number,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
        )


EPOCH_AT_START = web.RequestKey("answer_epoch", int)


def install_answer_recording(app: web.Application, cache: AnswerCache) -> None:
    """Store every eligible answer the app prepares (see the module docstring)."""

    @web.middleware
    async def note_epoch(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request[EPOCH_AT_START] = cache.epoch()
        return await handler(request)

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        head_only = request.method == "HEAD"
        if head_only:  # no body is sent, whatever kind of response carries the headers
            whole = type(response) in (web.Response, web.StreamResponse)
        else:
            whole = type(response) is web.Response and isinstance(response.body, bytes)
        if (
            response.status != 200
            or not whole
            or response.chunked
            or response.compression
            or request.version != (1, 1)
            or not response.keep_alive
        ):
            return
        key = request_key(
            request.method.encode(), request.raw_path.encode(), list(request.raw_headers)
        )
        if key is None:
            return
        epoch = request.get(EPOCH_AT_START)
        if epoch is None:
            return
        head = [f"HTTP/1.1 {response.status} {response.reason}".encode()]
        head.extend(f"{name}: {value}".encode() for name, value in response.headers.items())
        body = b"" if head_only else cast(bytes, response.body)  # type: ignore[attr-defined]
        cache.store(key, head, body, epoch)

    app.middlewares.append(note_epoch)
    app.on_response_prepare.append(record)
