"""File bodies from the object store: small ones cached, large ones streamed.

Bodies are content-addressed (`blobs/<sha256>`), so a cached body never goes
stale and one cache entry serves every deployment that shares the file; a
precompressed variant is just another blob with its own entry. Bodies above
`body_cache_item_bytes` are never held whole: they are read in `chunk_size`
pieces, each fetched in the I/O executor while the previous one is written to
the client (aiohttp's write applies back-pressure). A byte range of a large
body is read from the store starting at its offset (`ObjectStore.iter_range`:
a seek locally, a ranged GetObject on S3), never from the beginning.

A small body not yet in memory is read once however many requests want it at
the same moment (`SingleFlight`, keyed by blob): a popular file on a cold
process, or just after the cache dropped it, costs one store read, not one per
open request. Large bodies are not shared this way: each request streams its
own bytes (or its own range), and holding them for others would mean buffering.

With a disk cache (`serve.disk_cache`), a body missing from memory is read from
disk when a copy is there, else from the store, and then copied to disk: a small
one after it was read, a large one while it streams whole (kept only when every
byte arrived). So a body served once keeps being served while the store is down,
by every worker process, after a restart too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import Executor, Future
from contextlib import suppress
from functools import partial
from typing import Protocol

from deploy_platform.contracts.manifest import blob_key
from deploy_platform.storage import ObjectStore
from serve.cache import MISSING, LRUCache, SingleFlight
from serve.config import EdgeConfig
from serve.disk_cache import DiskCache, DiskCacheWriter
from serve.memory import body_weight

__all__ = ["BodyMismatch", "BodyReader", "StoredBody"]


class StoredBody(Protocol):
    """A body in the store: `blobs/<blob>`, `size` bytes (a `BlobRef` or a `FileEntry`)."""

    @property
    def blob(self) -> str: ...

    @property
    def size(self) -> int: ...


class BodyMismatch(Exception):
    """The stored body's size differs from the manifest's: the deployment is damaged."""


class BodyReader:
    def __init__(
        self,
        store: ObjectStore,
        executor: Executor,
        config: EdgeConfig,
        disk: DiskCache | None = None,
    ) -> None:
        self._store = store
        self._disk = disk
        self._executor = executor
        self._item_limit = config.body_cache_item_bytes
        self._chunk_size = config.chunk_size
        self.cache: LRUCache[str, bytes] = LRUCache(config.body_cache_bytes, weigh=body_weight)
        self._flight: SingleFlight[str, bytes] = SingleFlight()

    def is_small(self, entry: StoredBody) -> bool:
        """Small bodies are read whole and cached; the rest are streamed."""
        return entry.size <= self._item_limit

    async def read(self, entry: StoredBody) -> bytes:
        """The whole body of a small file, from memory when it was read before."""
        cached = self.cache.get(entry.blob)
        if cached is not MISSING:
            return cached
        # Keyed by blob and size: a manifest naming the wrong size for a shared blob
        # gets its own read (and its own BodyMismatch), never another entry's answer.
        return await self._flight.run(
            f"{entry.blob}:{entry.size}", partial(self._fetch, entry.blob, entry.size)
        )

    async def _fetch(self, blob: str, size: int) -> bytes:
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(self._executor, self._load, blob, size)
        if len(body) != size:
            raise BodyMismatch(f"blob {blob} holds {len(body)} bytes, the manifest says {size}")
        self.cache.put(blob, body)
        return body

    def _load(self, blob: str, size: int) -> bytes:
        """From the disk copy when there is one, else from the store, then copied (blocking)."""
        disk = self._disk
        if disk is not None:
            copy = disk.read_blob(blob, size)
            if copy is not None:
                return copy
        body = self._store.get_bytes(blob_key(blob))
        if disk is not None and len(body) == size:
            disk.put_blob(blob, body)
        return body

    def _open_range(self, entry: StoredBody, start: int, end: int | None) -> Iterator[bytes]:
        """The bytes from the disk copy, else from the store (copied when read whole)."""
        disk = self._disk
        if disk is not None:
            path = disk.blob_path(entry.blob, entry.size)
            if path is not None:
                with suppress(OSError):  # evicted meanwhile: the store has it
                    return _file_range(str(path), start, end, self._chunk_size)
        chunks = self._store.iter_range(_key(entry), start, end, self._chunk_size)
        whole = start == 0 and (end is None or end >= entry.size - 1)
        writer = disk.blob_writer(entry.blob, entry.size) if disk is not None and whole else None
        return _copied(chunks, writer) if writer is not None else chunks

    async def chunks(
        self, entry: StoredBody, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Bytes `start`..`end` (inclusive; None: to the end) in chunks.

        Use with `contextlib.aclosing` so the store's reader is closed early.
        """
        loop = asyncio.get_running_loop()
        iterator: Iterator[bytes] = await loop.run_in_executor(
            self._executor, self._open_range, entry, start, end
        )
        pending: Future[bytes | None] | None = None
        try:
            while True:
                pending = self._executor.submit(next, iterator, None)
                chunk = await asyncio.wrap_future(pending)
                if chunk is None:
                    return
                yield chunk
        finally:
            self._close(iterator, pending)

    def _close(self, iterator: Iterator[bytes], pending: Future[bytes | None] | None) -> None:
        """Close the store's reader in a worker thread, after any read still running there."""

        def close(_done: object = None) -> None:
            close_method = getattr(iterator, "close", None)
            if close_method is not None:
                with suppress(Exception):
                    close_method()

        if pending is not None and not pending.done():
            pending.add_done_callback(close)
        else:
            with suppress(RuntimeError):  # the executor is already shut down
                self._executor.submit(close)


def _key(entry: StoredBody) -> str:
    return blob_key(entry.blob)


def _file_range(path: str, start: int, end: int | None, chunk_size: int) -> Iterator[bytes]:
    """Bytes `start`..`end` (inclusive) of a file; opened now, so a vanished copy fails here."""
    handle = open(path, "rb")  # noqa: SIM115 - closed by the generator below

    def read() -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                chunk = handle.read(chunk_size if left is None else min(chunk_size, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    return read()


def _copied(chunks: Iterator[bytes], writer: DiskCacheWriter) -> Iterator[bytes]:
    """The store's chunks, copied to disk on the way; the copy is kept only when whole."""
    finished = False
    try:
        for chunk in chunks:
            writer.write(chunk)
            yield chunk
        finished = True
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        if finished:
            writer.finish()
        else:
            writer.abandon()
