"""Reading a GitHub delivery's body cheaply: nothing a stranger sends is parsed unproven.

Two ways in (see `deploy_platform.api.webhooks`):

- the project's own payload URL `/api/webhooks/github/<project>`: the secret is
  known before the body arrives, so the body is streamed through the HMAC as it
  is read (64 KiB at a time, at most `MAX_WEBHOOK_BYTES`, GitHub's 25 MB cap),
  kept in a spool that moves to an unnamed file in `<state>/tmp` past
  `_SPOOL_MEMORY_BYTES`, and only read back and parsed once the signature
  matched. An unsigned 24 MB body costs 64 KiB of memory and one pass of SHA-256.
- the shared URL `/api/webhooks/github`: the secret depends on the repository the
  payload names, so the body must be parsed first. That parse gets a small budget,
  `UNSIGNED_PARSE_BYTES` and `UNSIGNED_PARSE_CONTAINERS`, and one runs at a time
  (`UNSIGNED_PARSES`), so a flood of them costs a few MB; a larger delivery is
  refused with 413 naming the project's own URL, which takes up to 25 MB.

A bad signature, a project that does not exist and (on the shared URL) a
repository nobody builds all get `bad_signature()`: the same 401, byte for byte,
so the answer tells a stranger nothing about which projects exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import tempfile
from concurrent.futures import Executor
from pathlib import Path
from typing import IO

from aiohttp import web

from deploy_platform.api.errors import ApiError
from deploy_platform.github.webhooks import SIGNATURE_HEADER, is_signature_shaped

__all__ = [
    "MAX_WEBHOOK_BYTES",
    "UNSIGNED_PARSE_BYTES",
    "UNSIGNED_PARSE_CONTAINERS",
    "bad_signature",
    "check_signature_header",
    "read_signed_body",
    "read_unsigned_body",
]

#: GitHub caps webhook payloads at 25 MB and does not deliver larger ones.
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024
#: What the shared URL parses before any signature is checked. A push of 20
#: commits touching a few thousand files stays far below; bigger deliveries
#: need the project's own URL.
UNSIGNED_PARSE_BYTES = 1024 * 1024
#: ... and at most this many arrays and objects (`[` and `{`, counted in C before
#: parsing): a GitHub push or pull request payload has a few hundred; a megabyte of
#: `[{},{},...]` would be 350,000 dicts, ~30 MB of memory per parse.
UNSIGNED_PARSE_CONTAINERS = 10_000
_CHUNK = 64 * 1024
_SPOOL_MEMORY_BYTES = 256 * 1024


def bad_signature() -> ApiError:
    """The one 401 for a wrong secret, an unknown project and an unknown repository."""
    return ApiError(
        401,
        "invalid_signature",
        f"the {SIGNATURE_HEADER} signature does not match the webhook secret of the "
        "project this delivery is for: put the secret printed by `deploy-platform project "
        "create` (or `project update --rotate-webhook-secret`) in the webhook's Secret "
        "field, and use the payload URL it printed",
        field=SIGNATURE_HEADER,
    )


def check_signature_header(request: web.Request) -> str:
    """The `X-Hub-Signature-256` header, refused (401) before any byte of the body is read."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if not is_signature_shaped(signature):
        problem = "is missing" if signature is None else "is not 'sha256=' and 64 hex digits"
        raise ApiError(
            401,
            "invalid_signature",
            f"the {SIGNATURE_HEADER} header {problem}: give the webhook the secret printed "
            "by `deploy-platform project create` so GitHub signs its deliveries",
            field=SIGNATURE_HEADER,
        )
    assert signature is not None
    return signature


def _too_large(limit: int, hint: str) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the delivery is larger than {limit // (1024 * 1024)} MB{hint}",
    )


_SIGNED_HINT = ", the most GitHub sends"
_UNSIGNED_HINT = (
    ", the most this shared URL reads before the signature is checked; use the "
    "project's own payload URL /api/webhooks/github/<project> (printed by "
    "`deploy-platform project create`), which takes up to 25 MB"
)


async def read_unsigned_body(request: web.Request) -> bytes:
    """The shared URL's body, at most `UNSIGNED_PARSE_BYTES` (413 the moment it passes)."""
    limit = UNSIGNED_PARSE_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit, _UNSIGNED_HINT)
    body = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        if len(body) + len(chunk) > limit:
            raise _too_large(limit, _UNSIGNED_HINT)
        body += chunk
    containers = body.count(b"[") + body.count(b"{")
    if containers > UNSIGNED_PARSE_CONTAINERS:
        raise ApiError(
            413,
            "payload_too_complex",
            f"the delivery holds more than {UNSIGNED_PARSE_CONTAINERS} JSON arrays and "
            f"objects, the most this shared URL parses before the signature is checked; "
            "use the project's own payload URL /api/webhooks/github/<project> (printed by "
            "`deploy-platform project create`)",
        )
    return bytes(body)


async def read_signed_body(
    request: web.Request,
    secret: str | None,
    signature: str,
    scratch: Path,
    executor: Executor,
) -> bytes:
    """The body, once its HMAC with `secret` is `signature` (else `bad_signature()`).

    `secret` None (no such project, or one without a secret) still reads the body
    through an HMAC with a random key, so that case costs and answers the same.
    Never more than `MAX_WEBHOOK_BYTES` (413 as soon as it passes).
    """
    limit = MAX_WEBHOOK_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit, _SIGNED_HINT)
    key = secret.encode() if secret else secrets.token_bytes(32)
    mac = hmac.new(key, digestmod=hashlib.sha256)
    loop = asyncio.get_running_loop()
    spool: IO[bytes] = await loop.run_in_executor(executor, _open_spool, scratch)
    try:
        size = 0
        async for chunk in request.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, _SIGNED_HINT)
            await loop.run_in_executor(executor, _take, mac, spool, chunk)
        expected = "sha256=" + mac.hexdigest()
        # SECURITY: constant time, and an empty or missing secret never matches.
        if not secret or not hmac.compare_digest(expected.encode(), signature.encode()):
            raise bad_signature()
        return await loop.run_in_executor(executor, _read_back, spool)
    finally:
        await loop.run_in_executor(executor, spool.close)


def _open_spool(scratch: Path) -> IO[bytes]:
    scratch.mkdir(parents=True, exist_ok=True)
    # Past the memory part it rolls over to an unnamed file (O_TMPFILE): gone
    # with the process however it ends, so nothing is left to sweep.
    return tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY_BYTES, mode="w+b", dir=str(scratch))


def _take(mac: hmac.HMAC, spool: IO[bytes], chunk: bytes) -> None:
    mac.update(chunk)
    spool.write(chunk)


def _read_back(spool: IO[bytes]) -> bytes:
    spool.seek(0)
    return spool.read()
