"""Typed responses: a file (200, 206, 404 page), a 304, a 416, a redirect, a platform page.

A file answer sends the representation `serve.encodings` chose (identity or a
precompressed variant, with its own ETag, `Content-Encoding` and `Vary`) and,
for a range (`serve.ranges`), only those bytes of the identity body.
`Accept-Ranges: bytes` is on every 200/206/416 file answer, not on 404 pages,
whose bytes are not the requested URL's.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing

from aiohttp import web

from deploy_platform.contracts.manifest import FileEntry
from serve.bodies import BodyMismatch, BodyReader, StoredBody
from serve.encodings import Representation, choose, representation_headers
from serve.headers import (
    Overlay,
    etag_for,
    file_headers,
    page_headers,
    redirect_headers,
)
from serve.pages import render_page
from serve.ranges import ByteRange

__all__ = [
    "ALLOWED_METHODS",
    "StreamAborted",
    "file_response",
    "not_modified_response",
    "page_response",
    "range_not_satisfiable_response",
    "redirect_response",
]

log = logging.getLogger(__name__)

ALLOWED_METHODS = ("GET", "HEAD")


class StreamAborted(Exception):
    """A body failed after its headers were sent: the only honest end is a cut connection."""


def page_response(status: int, extra: Overlay | None = None) -> web.Response:
    """The platform's own page for `status` (HEAD gets the headers without the body).

    `extra`: a live site's overlay (its header rules and robots header) when its path
    names nothing.
    """
    headers = page_headers(status, extra)
    if status == 405:
        headers["Allow"] = ", ".join(ALLOWED_METHODS)  # RFC 9110 section 15.5.6
    return web.Response(status=status, body=render_page(status), headers=headers)


def redirect_response(
    location: str, status: int = 308, extra: Overlay | None = None
) -> web.Response:
    """308 by default: like 301 but the method is kept; revalidated, since an alias may move on.

    A deployment's own redirect rules choose their status (301, 302, 303, 307, 308).
    `extra`: the site's overlay (header rules, robots header), as Pages applies `_headers`
    to redirects too.
    """
    return web.Response(status=status, headers=redirect_headers(location, extra))


def _bodiless_headers(
    entry: FileEntry, chosen: Representation, rules: Overlay | None
) -> dict[str, str]:
    """The fields a 200 would carry, but Content-Type: this answer has no content."""
    headers = file_headers(entry, rules)
    representation_headers(headers, entry, chosen)
    for name in [name for name in headers if name.lower() == "content-type"]:
        del headers[name]  # a header rule may have spelled it its own way
    return headers


def not_modified_response(
    entry: FileEntry, chosen: Representation, rules: Overlay | None = None
) -> web.Response:
    """304 with the fields a 200 would carry for caches (RFC 9110 section 15.4.5)."""
    headers = _bodiless_headers(entry, chosen, rules)
    # The 200 would be encoded, the 304 has no content to be encoded.
    headers.pop("Content-Encoding", None)
    return web.Response(status=304, headers=headers)


def range_not_satisfiable_response(
    entry: FileEntry, chosen: Representation, rules: Overlay | None = None
) -> web.Response:
    """416 for a range past the end, saying how long the body is (RFC 9110 15.5.17)."""
    headers = _bodiless_headers(entry, chosen, rules)
    headers["Accept-Ranges"] = "bytes"
    headers["Content-Range"] = f"bytes */{chosen.body.size}"
    return web.Response(status=416, headers=headers)


async def file_response(
    request: web.Request,
    entry: FileEntry,
    bodies: BodyReader,
    status: int = 200,
    rules: Overlay | None = None,
    chosen: Representation | None = None,
    byte_range: ByteRange | None = None,
) -> web.StreamResponse:
    """The file's body: from memory when small, streamed from the store when large.

    `rules`: headers from the deployment's header rules (see `serve.headers`).
    `chosen`: the representation to send (default: chosen by Accept-Encoding);
    `byte_range`: answer 206 with those bytes of it (only ever identity).
    """
    if chosen is None:
        chosen = choose(entry, etag_for(entry), _accept_encoding(request))
    headers = file_headers(entry, rules, status)
    representation_headers(headers, entry, chosen)
    if status != 200:
        # A 404 page is not the representation of the requested URL: no validator.
        del headers["ETag"]
    else:
        headers["Accept-Ranges"] = "bytes"
    body = chosen.body
    start, length = 0, body.size
    if byte_range is not None:
        status, start, length = 206, byte_range.start, byte_range.length
        headers["Content-Range"] = byte_range.content_range
    if request.method == "HEAD":
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = length
        await response.prepare(request)
        await response.write_eof()
        return response
    if bodies.is_small(body):
        data = await bodies.read(body)
        if length != len(data):
            data = data[start : start + length]
        return web.Response(status=status, body=data, headers=headers)
    return await _stream(request, body, bodies, status, headers, start, length)


def _accept_encoding(request: web.Request) -> str | None:
    values = request.headers.getall("Accept-Encoding", None)
    return ", ".join(values) if values else None


async def _stream(
    request: web.Request,
    entry: StoredBody,
    bodies: BodyReader,
    status: int,
    headers: dict[str, str],
    start: int,
    length: int,
) -> web.StreamResponse:
    end = start + length - 1
    async with aclosing(bodies.chunks(entry, start, end)) as chunks:
        # The first read happens before any header is sent, so a missing blob or an
        # unreachable store still gets a proper error page.
        first = await anext(chunks, None)
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = length
        await response.prepare(request)
        sent = 0
        try:
            chunk = first
            while chunk is not None:
                await response.write(chunk)
                sent += len(chunk)
                chunk = await anext(chunks, None)
            if sent != length:
                raise BodyMismatch(
                    f"blob {entry.blob} gave {sent} bytes from offset {start}, "
                    f"the manifest's size {entry.size} says {length}"
                )
        except ConnectionError:
            # The client went away mid-body: common and harmless. Returning (not
            # raising) lets aiohttp close quietly instead of logging a traceback.
            log.debug("client left after %d of %d bytes of blob %s", sent, length, entry.blob)
            return response
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("streaming blob %s broke after %d bytes: %s", entry.blob, sent, exc)
            raise StreamAborted(str(exc)) from exc
        await response.write_eof()
        return response
