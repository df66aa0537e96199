"""Uploaded source archives: stream to disk under a size limit, then prove them safe.

The body is never held in memory: it is written to a temporary file chunk by
chunk (the writes run in the executor), and refused with 413 as soon as it
passes the limit. While it arrives, its tar headers are read
(`deploy_platform.source.archive.scan`): the (MAX_ARCHIVE_FILES + 1)-th entry, or a
path past the depth and length limits (`deploy_platform.contracts.tree_limits`), is
refused with 400 at once, before the rest is even sent or anything unpacked.
Before anything is stored or queued, the archive is unpacked with the same safe
extraction the pipeline uses, into a scratch directory, so a corrupt or hostile
tarball is refused with 400 here rather than failing later.
"""

from __future__ import annotations

import asyncio
import tempfile
from concurrent.futures import Executor
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from deploy_platform.api.errors import ApiError
from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.source.archive.scan import TarScanner
from deploy_platform.source.archive.unpack import safe_extract, stream_limit

__all__ = [
    "ARCHIVE_TYPES",
    "MAX_ARCHIVE_FILES",
    "is_archive_type",
    "receive_upload",
    "check_archive",
]

ARCHIVE_TYPES = frozenset(
    {"application/gzip", "application/x-gzip", "application/x-tar+gzip", "application/x-gtar"}
)
# Far above any static site; bounds the work a hostile archive can cause.
MAX_ARCHIVE_FILES = 100_000
_CHUNK = 1024 * 1024


def _open_for_writing(path: Path) -> BinaryIO:
    return open(path, "wb")


def is_archive_type(content_type: str) -> bool:
    return content_type.lower() in ARCHIVE_TYPES


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the upload is larger than the limit of {limit} bytes (DP_MAX_UPLOAD_BYTES); "
        "leave build output and dependencies such as node_modules out of it",
    )


def _refused(exc: UnsafeArchive) -> ApiError:
    return ApiError(400, "invalid_archive", str(exc), field="body")


def _write_and_scan(out: BinaryIO, scanner: TarScanner, chunk: bytes) -> None:
    out.write(chunk)
    scanner.feed(chunk)


async def receive_upload(
    request: web.Request, dest: Path, limit: int, max_bytes: int, executor: Executor
) -> int:
    """Write the request body to `dest`, reading its entries as they come; returns its size.

    `limit` caps the body (413), `max_bytes` the unpacked content (400).
    """
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    scanner = TarScanner(MAX_ARCHIVE_FILES, stream_limit(max_bytes, MAX_ARCHIVE_FILES), max_bytes)
    loop = asyncio.get_running_loop()
    out: BinaryIO = await loop.run_in_executor(executor, _open_for_writing, dest)
    size = 0
    try:
        async for chunk in request.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            await loop.run_in_executor(executor, _write_and_scan, out, scanner, chunk)
    except UnsafeArchive as exc:
        raise _refused(exc) from None
    finally:
        await loop.run_in_executor(executor, out.close)
    if size == 0:
        raise ApiError(
            400,
            "invalid_archive",
            "the upload is empty; send a tar.gz of the site's source directory",
            field="body",
        )
    return size


def check_archive(archive: Path, scratch: Path, max_bytes: int) -> None:
    """Unpack into `scratch` with every safety check (blocking: run it in the executor).

    `safe_extract` refuses damaged archives, compression bombs and entries or links
    that leave the tree alike, with a message naming the problem.
    """
    try:
        with tempfile.TemporaryDirectory(dir=scratch, prefix="check-") as tmp:
            safe_extract(archive, Path(tmp), max_bytes=max_bytes, max_files=MAX_ARCHIVE_FILES)
            empty = not any(Path(tmp).iterdir())
    except UnsafeArchive as exc:
        raise _refused(exc) from None
    if empty:
        raise ApiError(
            400,
            "invalid_archive",
            "the archive holds no files; pack the site's source directory "
            "(for example `tar -czf site.tar.gz -C <dir> .`)",
            field="body",
        )
