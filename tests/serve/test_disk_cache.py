"""serve.disk_cache on a real directory: whole copies only, a byte bound that holds
across processes sharing the directory, least recently used copies evicted first."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from serve.disk_cache import DiskCache, has_copies

KIB = 1024


def blob_name(index: int) -> str:
    return f"{index:064x}"


def counted(directory: Path) -> int:
    return sum(
        path.stat().st_size
        for top in ("blobs", "manifests")
        for path in (directory / top).rglob("*")
        if path.is_file()
    )


def test_a_copy_is_read_back_whole_or_not_at_all(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "cache", 1024 * KIB)
    cache.put_blob(blob_name(1), b"hello")

    assert cache.read_blob(blob_name(1), 5) == b"hello"
    assert cache.read_blob(blob_name(1), 6) is None  # the manifest's size decides
    assert cache.read_blob(blob_name(2), 5) is None
    # Names that could leave the directory are never used.
    cache.put_blob("../../escape", b"x")
    assert not (tmp_path / "escape").exists() and cache.read_blob("../../escape", 1) is None
    assert cache.used_bytes() == 5


def test_a_streamed_copy_is_kept_only_when_every_byte_arrived(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "cache", 1024 * KIB)
    partial = cache.blob_writer(blob_name(1), 10)
    assert partial is not None
    partial.write(b"12345")
    partial.finish()  # 5 of 10 bytes: dropped
    whole = cache.blob_writer(blob_name(2), 10)
    assert whole is not None
    whole.write(b"12345")
    whole.write(b"67890")
    whole.finish()

    assert cache.blob_path(blob_name(1), 10) is None
    assert cache.read_blob(blob_name(2), 10) == b"1234567890"
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_the_bound_holds_and_the_least_recently_used_go_first(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "cache", 100 * KIB)
    for index in range(8):
        cache.put_blob(blob_name(index), bytes(10 * KIB))
    # Used just now: blob 0 becomes the most recent.
    old = time.time() - 60
    for index in range(1, 8):
        os.utime(cache.blob_path(blob_name(index), 10 * KIB) or "", (old, old))
    assert cache.read_blob(blob_name(0), 10 * KIB) is not None

    for index in range(8, 12):
        cache.put_blob(blob_name(index), bytes(10 * KIB))

    assert counted(tmp_path / "cache") <= 100 * KIB
    assert cache.used_bytes() == counted(tmp_path / "cache")
    assert cache.blob_path(blob_name(0), 10 * KIB) is not None
    assert cache.blob_path(blob_name(1), 10 * KIB) is None
    assert cache.blob_path(blob_name(11), 10 * KIB) is not None


def _fill(directory: str, start: int) -> None:
    cache = DiskCache(Path(directory), 200 * KIB)
    for index in range(start, start + 60):
        cache.put_blob(blob_name(index), os.urandom(7 * KIB))
        cache.put_manifest(f"dep{index:09d}", b"{}" * 100)


def test_processes_sharing_the_directory_stay_under_the_bound_together(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_fill, args=(str(tmp_path / "cache"), start))
        for start in (0, 1000, 2000, 3000)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0

    cache = DiskCache(tmp_path / "cache", 200 * KIB)
    assert 0 < counted(tmp_path / "cache") <= 200 * KIB
    assert cache.used_bytes() == counted(tmp_path / "cache")
    assert has_copies(tmp_path / "cache")


def test_pointers_and_manifests_are_remembered_and_a_removed_manifest_forgotten(
    tmp_path: Path,
) -> None:
    cache = DiskCache(tmp_path / "cache", 100 * KIB)
    assert not has_copies(tmp_path / "cache")
    cache.put_pointer("alias", "docs", '{"deployment": "abc"}')
    cache.put_pointer("alias", "gone", "")
    cache.put_manifest("k3v9p2m4x7qa", b'{"files": {}}')

    again = DiskCache(tmp_path / "cache", 100 * KIB)  # another process, later
    assert again.read_pointer("alias", "docs") == '{"deployment": "abc"}'
    assert again.read_pointer("alias", "gone") == ""
    assert again.read_pointer("alias", "never") is None
    assert again.read_manifest("k3v9p2m4x7qa") == b'{"files": {}}'
    again.forget_manifest("k3v9p2m4x7qa")
    assert again.read_manifest("k3v9p2m4x7qa") is None
    assert again.used_bytes() == 0
