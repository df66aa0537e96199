"""A bounded on-disk copy of what the edge read from the object store, to ride out an outage.

File bodies are immutable and content-addressed (`blobs/<sha256>`), and so is a
deployment's manifest once written, so a copy can never be stale: a body the
edge read once from the store is written here and read from here whenever the
memory cache misses (disk is faster than the store, and it works while the
store is down). Manifests and alias / domain pointers are copied too, but used
only when the store fails: the store stays the source of truth for whether a
deployment still exists and where an alias points (the last answer it gave is
what is served while it is down).

Layout under `DP_EDGE_DISK_CACHE_DIR` (default `<state>/edge-cache`):

  blobs/<aa>/<blob>       body copies (evicted oldest-used first)
  manifests/<id>.json     manifest copies (evicted alike)
  pointers/<kind>/<name>  last answer for an alias or domain (tiny, never evicted)
  tmp/                    files being written; renamed into place when complete
  .lock, .size            the byte count of blobs/ and manifests/, under flock

Several edge worker processes share the directory safely: a copy is written to
`tmp/` and renamed into place (readers see a whole file or none), and the byte
count and eviction happen under an exclusive `flock` of `.lock`, so together
they stay under `DP_EDGE_DISK_CACHE_BYTES`. A hit refreshes the file's mtime,
which eviction goes by (least recently used first, down to 90% of the bound).
Every operation is blocking: run it in the I/O executor. A failing disk never
fails a request: the copy is skipped and logged.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

__all__ = ["DiskCache", "DiskCacheWriter", "has_copies"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_EVICT_TO = 0.9
# A file in tmp/ older than this was left by a process that died while writing it.
_STALE_TMP_SECONDS = 3600.0


def has_copies(directory: Path) -> bool:
    """Whether `directory` holds manifest copies (an edge served from it before)."""
    try:
        with os.scandir(directory / "manifests") as entries:
            return any(entry.name.endswith(".json") for entry in entries)
    except OSError:
        return False


class DiskCache:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._tmp = directory / "tmp"
        for sub in ("blobs", "manifests", "pointers", "tmp"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        self._lock_path = directory / ".lock"
        self._size_path = directory / ".size"
        with self._locked():
            self._remove_stale_tmp()
            self._write_size(self._scan_size())

    # -- bodies and manifests (immutable) -------------------------------------------

    def blob_path(self, blob: str, size: int) -> Path | None:
        """The cached copy of `blobs/<blob>` when it is there whole (`size` bytes)."""
        path = self._blob_file(blob)
        return path if path is not None and self._fresh(path, size) else None

    def read_blob(self, blob: str, size: int) -> bytes | None:
        data = _read(self.blob_path(blob, size))
        return data if data is not None and len(data) == size else None

    def put_blob(self, blob: str, data: bytes) -> None:
        path = self._blob_file(blob)
        if path is not None and not path.exists():
            self._put(path, data)

    def blob_writer(self, blob: str, size: int) -> DiskCacheWriter | None:
        """A writer for a body streamed from the store (None when it is cached or unnamed)."""
        path = self._blob_file(blob)
        if path is None or path.exists() or size > self.max_bytes:
            return None
        try:
            return DiskCacheWriter(self, path, size)
        except OSError as exc:
            log.warning("cannot write to the edge's disk cache %s: %s", self.directory, exc)
            return None

    def read_manifest(self, deployment_id: str) -> bytes | None:
        path = self._file("manifests", deployment_id + ".json")
        data = _read(path)
        if path is not None and data is not None:
            self._touch(path)
        return data

    def put_manifest(self, deployment_id: str, raw: bytes) -> None:
        path = self._file("manifests", deployment_id + ".json")
        if path is not None and not path.exists():
            self._put(path, raw)

    def forget_manifest(self, deployment_id: str) -> None:
        """A deployment retention removed: its copy must not outlive it."""
        path = self._file("manifests", deployment_id + ".json")
        if path is not None and path.exists():
            try:
                with self._locked():
                    self._unlink_counted(path)
            except OSError as exc:
                log.warning("cannot update the edge's disk cache %s: %s", self.directory, exc)

    # -- pointers (the last answer, for outages only) ---------------------------------

    def read_pointer(self, kind: str, name: str) -> str | None:
        path = self._file(f"pointers/{kind}", name)
        if path is None:
            return None
        try:
            return path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def put_pointer(self, kind: str, name: str, value: str) -> None:
        """Remember the store's answer (`""`: points nowhere). Tiny, so not counted."""
        path = self._file(f"pointers/{kind}", name)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._tmp_path(name)
            tmp.write_text(value, "utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write to the edge's disk cache %s: %s", self.directory, exc)

    # -- accounting -------------------------------------------------------------------

    def used_bytes(self) -> int:
        with self._locked():
            return self._read_size()

    def _put(self, path: Path, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        try:
            tmp = self._tmp_path(path.name)
            with open(tmp, "wb") as out:
                out.write(data)
            self.commit(tmp, path, len(data))
        except OSError as exc:
            log.warning("cannot write to the edge's disk cache %s: %s", self.directory, exc)

    def commit(self, tmp: Path, path: Path, size: int) -> None:
        """Move a complete file from tmp/ into place, making room first (under the lock)."""
        with self._locked():
            if path.exists():  # another worker cached it meanwhile
                tmp.unlink(missing_ok=True)
                return
            used = self._read_size()
            if used + size > self.max_bytes:
                used = self._evict(int(self.max_bytes * _EVICT_TO) - size)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
            self._write_size(used + size)

    def _evict(self, target: int) -> int:
        """Remove the least recently used copies until at most `target` bytes remain."""
        files = sorted(self._counted_files(), key=lambda item: item[1])
        used = sum(size for _path, _mtime, size in files)
        for path, _mtime, size in files:
            if used <= target:
                break
            with suppress(FileNotFoundError):
                os.unlink(path)
                used -= size
        return used

    def _unlink_counted(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return
        self._write_size(max(0, self._read_size() - size))

    def _counted_files(self) -> Iterator[tuple[str, float, int]]:
        for top in ("blobs", "manifests"):
            for root, _dirs, names in os.walk(self.directory / top):
                for name in names:
                    path = os.path.join(root, name)
                    with suppress(FileNotFoundError):
                        st = os.stat(path)
                        yield path, st.st_mtime, st.st_size

    def _scan_size(self) -> int:
        return sum(size for _path, _mtime, size in self._counted_files())

    def _read_size(self) -> int:
        try:
            return int(self._size_path.read_text() or 0)
        except (OSError, ValueError):
            return self._scan_size()

    def _write_size(self, size: int) -> None:
        tmp = self._tmp_path("size")
        tmp.write_text(str(size))
        os.replace(tmp, self._size_path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _remove_stale_tmp(self) -> None:
        cutoff = time.time() - _STALE_TMP_SECONDS
        for entry in os.scandir(self._tmp):
            with suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)

    # -- names ------------------------------------------------------------------------

    def _blob_file(self, blob: str) -> Path | None:
        if not _NAME.match(blob):
            return None
        return self.directory / "blobs" / blob[:2] / blob

    def _file(self, sub: str, name: str) -> Path | None:
        return self.directory / sub / name if _NAME.match(name) else None

    def _tmp_path(self, name: str) -> Path:
        return self._tmp / f"{name[:80]}.{os.getpid()}.{secrets.token_hex(4)}"

    def _fresh(self, path: Path, size: int) -> bool:
        try:
            if path.stat().st_size != size:
                return False
        except OSError:
            return False
        self._touch(path)
        return True

    @staticmethod
    def _touch(path: Path) -> None:
        with suppress(OSError):
            os.utime(path)


class DiskCacheWriter:
    """Copies a body streamed from the store; kept only when every byte arrived."""

    def __init__(self, cache: DiskCache, path: Path, size: int) -> None:
        self._cache = cache
        self._path = path
        self._size = size
        self._tmp = cache._tmp_path(path.name)  # noqa: SLF001 - the cache's own helper
        self._out: BinaryIO | None = open(self._tmp, "wb")  # noqa: SIM115 - closed in finish
        self._written = 0

    def write(self, chunk: bytes) -> None:
        if self._out is None:
            return
        try:
            self._out.write(chunk)
            self._written += len(chunk)
        except OSError:
            self.abandon()

    def finish(self) -> None:
        """Keep the copy if it is whole, else drop it."""
        if self._out is None:
            return
        out, self._out = self._out, None
        try:
            out.close()
            if self._written == self._size:
                self._cache.commit(self._tmp, self._path, self._size)
                return
        except OSError as exc:
            log.warning("cannot write to the edge's disk cache: %s", exc)
        self._tmp.unlink(missing_ok=True)

    def abandon(self) -> None:
        if self._out is not None:
            with suppress(OSError):
                self._out.close()
            self._out = None
        self._tmp.unlink(missing_ok=True)


def _read(path: Path | None) -> bytes | None:
    """The file's bytes, or None when there is no such file or it cannot be read."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None
