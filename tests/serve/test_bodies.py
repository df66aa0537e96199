"""Small bodies: many requests for the same cold file cost one store read.

Guards the single-flight in `serve.bodies.BodyReader.read`: without it, a
popular file on a freshly started process (or just after the cache dropped it)
is read from the store once per open request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.storage.local import LocalObjectStore
from serve.bodies import BodyMismatch, BodyReader, StoredBody
from serve.config import EdgeConfig
from tests.support.deployments import write_deployment


class GatedStore(LocalObjectStore):
    """A real local store that counts body reads and holds each one until `release` is set.

    Holding the read keeps it in flight while every request arrives, so the count
    says how many reads the requests caused, whatever the machine's speed.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.body_reads = 0
        self.release = threading.Event()
        self._lock = threading.Lock()

    def get_bytes(self, key: str) -> bytes:
        if key.startswith("blobs/"):
            with self._lock:
                self.body_reads += 1
            if not self.release.wait(timeout=30):
                raise TimeoutError("the test never released the store")
        return super().get_bytes(key)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    """The I/O threads, as many as the app's default, so unshared reads would all start."""
    pool = ThreadPoolExecutor(max_workers=8)
    yield pool
    pool.shutdown(wait=True)


async def concurrent_reads(
    reader: BodyReader, store: GatedStore, entry: StoredBody, n: int
) -> list[bytes | BaseException]:
    """Start `n` reads of `entry`, let every one of them reach the store, then release it."""
    tasks = [asyncio.create_task(reader.read(entry)) for _ in range(n)]
    await asyncio.sleep(0)  # each task runs up to its first wait
    store.release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_50_concurrent_requests_for_a_cold_small_file_read_the_store_once(
    local_store_root: Path, executor: ThreadPoolExecutor
) -> None:
    store = GatedStore(local_store_root)
    store.release.set()  # publishing reads nothing back, but do not hold it
    manifest = write_deployment(store, new_deployment_id(), {"/index.html": b"<h1>popular</h1>"})
    store.release.clear()
    store.body_reads = 0
    reader = BodyReader(store, executor, EdgeConfig(storage_url=local_store_root.as_uri()))
    entry = manifest.files["/index.html"]

    bodies = await concurrent_reads(reader, store, entry, 50)

    assert bodies == [b"<h1>popular</h1>"] * 50
    assert store.body_reads == 1
    assert await reader.read(entry) == b"<h1>popular</h1>"  # now from memory
    assert store.body_reads == 1


async def test_a_damaged_body_fails_every_waiter_and_is_read_again_next_time(
    local_store_root: Path, executor: ThreadPoolExecutor
) -> None:
    store = GatedStore(local_store_root)
    store.release.set()
    manifest = write_deployment(store, new_deployment_id(), {"/app.js": b"console.log(1)"})
    entry = manifest.files["/app.js"]
    (local_store_root / "blobs" / entry.blob).write_bytes(b"cut")  # shorter than the manifest says
    store.release.clear()
    store.body_reads = 0
    reader = BodyReader(store, executor, EdgeConfig(storage_url=local_store_root.as_uri()))

    outcomes = await concurrent_reads(reader, store, entry, 20)

    assert all(isinstance(outcome, BodyMismatch) for outcome in outcomes)
    assert store.body_reads == 1
    # A failure is not remembered: once the blob is repaired, it is served.
    (local_store_root / "blobs" / entry.blob).write_bytes(b"console.log(1)")
    assert await reader.read(entry) == b"console.log(1)"
    assert store.body_reads == 2
