"""A local directory as an object store (the embedded default).

A write or read the disk refuses (full, over quota, I/O error, read-only) raises
`StoreDiskError` naming the directory: an infrastructure fault the platform retries
later (deploy_platform.contracts.errors), never a failed deployment with a bare OSError.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from deploy_platform.contracts.errors import is_disk_fault
from deploy_platform.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    StoreDiskError,
    check_key,
    guess_content_type,
)

__all__ = ["LocalObjectStore"]


@contextmanager
def _disk_faults(where: Path) -> Iterator[None]:
    """An OSError of the disk itself becomes StoreDiskError naming `where`."""
    try:
        yield
    except OSError as exc:
        if not is_disk_fault(exc):
            raise
        raise StoreDiskError(str(where), f"[Errno {exc.errno}] {exc.strerror}", exc.errno) from exc


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.description = f"local directory {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _write_atomically(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        target = self._path(key)
        with _disk_faults(self.root):
            target.parent.mkdir(parents=True, exist_ok=True)
            # Readers never see a half-written object: write beside it, then rename.
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    write(out)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._write_atomically(key, lambda out: out.write(data))

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        def copy(out: BinaryIO) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)

        self._write_atomically(key, copy)

    def get_bytes(self, key: str) -> bytes:
        try:
            with _disk_faults(self.root):
                return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    def download_file(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise ObjectNotFound(key)
        # Copying fails on a full disk where it writes: the caller's directory.
        with _disk_faults(path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            try:
                shutil.copyfile(source, tmp)
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]:
        if start < 0:
            raise ObjectStoreError(f"range start must be >= 0, not {start}")
        # Opened here, not in the generator, so a missing object raises at the call.
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed by _read_range
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        return self._read_range(handle, start, end, chunk_size)

    @staticmethod
    def _read_range(
        handle: BinaryIO, start: int, end: int | None, chunk_size: int
    ) -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                size = chunk_size if remaining is None else min(chunk_size, remaining)
                chunk = handle.read(size)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def head(self, key: str) -> ObjectInfo | None:
        try:
            stat = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not os.path.isfile(self._path(key)):
            return None
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=None,
            content_type=guess_content_type(key),
            last_modified=stat.st_mtime,
        )

    def list(self, prefix: str = "", *, page_size: int | None = None) -> Iterator[ObjectInfo]:
        # A directory walk has no pages: page_size does not apply.
        keys: list[str] = []
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        for key in sorted(keys):
            info = self.head(key)
            if info is not None:
                yield info

    def delete(self, key: str) -> None:
        with _disk_faults(self.root):
            self._path(key).unlink(missing_ok=True)
