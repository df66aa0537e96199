"""Helpers for edge-origin tests: a hand-driven clock and raw HTTP requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

__all__ = ["FakeClock", "RawResponse", "raw_request"]


@dataclass
class FakeClock:
    """A monotonic clock the test moves by hand, so TTLs expire without sleeping."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RawResponse:
    status: int
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    body: bytes = b""


async def raw_request(
    client: TestClient[Any, Any],
    target: str,
    host: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> RawResponse:
    """Send the request line exactly as given (no client-side path normalization)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed.add(name.strip(), value.strip())
    response = RawResponse(int(status_line.split()[1]), parsed, body)
    if "chunked" in parsed.get("Transfer-Encoding", ""):
        response.body = _unchunk(body)
    return response


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)
