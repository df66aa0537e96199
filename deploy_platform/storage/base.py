"""The object store interface that the local directory and S3/R2 both implement."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ObjectInfo", "ObjectStore", "ObjectStoreError", "ObjectNotFound", "check_key"]

_KEY_RE = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")


class ObjectStoreError(Exception):
    """The store could not do what was asked (network, permissions, bad key)."""


class ObjectNotFound(ObjectStoreError, KeyError):
    """No object exists under the key."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None = None
    content_type: str | None = None


def check_key(key: str) -> str:
    """Keys are relative, slash-separated, with no empty, `.` or `..` segments."""
    if not _KEY_RE.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise ObjectStoreError(f"invalid object key {key!r}")
    return key


class ObjectStore(ABC):
    """Blocking object-store client; async callers run it in an executor."""

    #: A short human description for logs and metadata (never includes secrets).
    description: str = ""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The whole object; raises `ObjectNotFound`."""

    @abstractmethod
    def download_file(self, key: str, path: Path) -> None:
        """Write the object to `path` (atomically); raises `ObjectNotFound`."""

    @abstractmethod
    def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]:
        """Bytes `start`..`end` inclusive (end None = to the end), in chunks.

        Raises `ObjectNotFound` when called, before the first chunk, so a server
        can answer 404 before it sends headers. A range starting beyond the end
        (or `end < start`) yields nothing.
        """

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def list(self, prefix: str = "", *, page_size: int | None = None) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, all pages, sorted by key.

        `page_size` is how many keys to fetch per request where the backend
        pages (S3: at most 1000, the default); stores that do not page ignore it.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; missing objects are not an error."""

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise `ObjectStoreError` saying what to fix if the store cannot be used
        (missing bucket, wrong credentials, unreachable endpoint); call at start-up."""

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def missing(self, keys: Iterable[str]) -> set[str]:
        """The subset of `keys` the store does not hold."""
        return {key for key in keys if not self.exists(key)}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default holds none."""
