"""Typed responses: a file, a 304, a redirect, a platform page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import aclosing

from aiohttp import web

from deploy_platform.manifest import FileEntry
from serve.bodies import BodyMismatch, BodyReader
from serve.headers import (
    FILE_CACHE_CONTROL,
    REFERRER_POLICY,
    SERVER,
    file_headers,
    page_headers,
)
from serve.pages import render_page

__all__ = [
    "ALLOWED_METHODS",
    "StreamAborted",
    "file_response",
    "not_modified_response",
    "page_response",
    "redirect_response",
]

log = logging.getLogger(__name__)

ALLOWED_METHODS = ("GET", "HEAD")


class StreamAborted(Exception):
    """A body failed after its headers were sent: the only honest end is a cut connection."""


def page_response(status: int, extra: Mapping[str, str] | None = None) -> web.Response:
    """The platform's own page for `status` (HEAD gets the headers without the body).

    `extra`: the site's robots header, when a live site's path names nothing.
    """
    headers = page_headers()
    if status == 405:
        headers["Allow"] = ", ".join(ALLOWED_METHODS)  # RFC 9110 section 15.5.6
    headers.update(extra or {})
    return web.Response(status=status, body=render_page(status), headers=headers)


def redirect_response(
    location: str, status: int = 308, extra: Mapping[str, str] | None = None
) -> web.Response:
    """308 by default: like 301 but the method is kept; revalidated, since an alias may move on.

    A deployment's own redirect rules choose their status (301, 302, 303, 307, 308).
    `extra`: the site's robots header (`serve.robots`).
    """
    return web.Response(
        status=status,
        headers={
            "Location": location,
            "Cache-Control": FILE_CACHE_CONTROL,
            "Referrer-Policy": REFERRER_POLICY,
            **(extra or {}),
            "X-Content-Type-Options": "nosniff",
            "Server": SERVER,
        },
    )


def not_modified_response(entry: FileEntry, rules: Mapping[str, str] | None = None) -> web.Response:
    """304 with the fields a 200 would carry for caches (RFC 9110 section 15.4.5)."""
    headers = file_headers(entry, rules)
    del headers["Content-Type"]
    return web.Response(status=304, headers=headers)


async def file_response(
    request: web.Request,
    entry: FileEntry,
    bodies: BodyReader,
    status: int = 200,
    rules: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """The file's body: from memory when small, streamed from the store when large.

    `rules`: headers from the deployment's header rules (see `serve.headers`).
    """
    headers = file_headers(entry, rules)
    if status != 200:
        # A 404 page is not the representation of the requested URL: no validator.
        del headers["ETag"]
    if request.method == "HEAD":
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = entry.size
        await response.prepare(request)
        await response.write_eof()
        return response
    if bodies.is_small(entry):
        return web.Response(status=status, body=await bodies.read(entry), headers=headers)
    return await _stream(request, entry, bodies, status, headers)


async def _stream(
    request: web.Request,
    entry: FileEntry,
    bodies: BodyReader,
    status: int,
    headers: dict[str, str],
) -> web.StreamResponse:
    async with aclosing(bodies.chunks(entry)) as chunks:
        # The first read happens before any header is sent, so a missing blob or an
        # unreachable store still gets a proper error page.
        first = await anext(chunks, None)
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = entry.size
        await response.prepare(request)
        sent = 0
        try:
            chunk = first
            while chunk is not None:
                await response.write(chunk)
                sent += len(chunk)
                chunk = await anext(chunks, None)
            if sent != entry.size:
                raise BodyMismatch(
                    f"blob {entry.blob} holds {sent} bytes, the manifest says {entry.size}"
                )
        except ConnectionError:
            # The client went away mid-body: common and harmless. Returning (not
            # raising) lets aiohttp close quietly instead of logging a traceback.
            log.debug("client left after %d of %d bytes of blob %s", sent, entry.size, entry.blob)
            return response
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("streaming blob %s broke after %d bytes: %s", entry.blob, sent, exc)
            raise StreamAborted(str(exc)) from exc
        await response.write_eof()
        return response
