"""The object store interface that the local directory and S3/R2 both implement."""

from __future__ import annotations

import mimetypes
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.contracts.errors import DiskError, ObjectStoreUnavailable

__all__ = [
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectNotFound",
    "StoreUnavailable",
    "StoreDiskError",
    "check_key",
    "guess_content_type",
]

_KEY_RE = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")


class ObjectStoreError(Exception):
    """The store could not do what was asked (network, permissions, bad key)."""


class ObjectNotFound(ObjectStoreError, KeyError):
    """No object exists under the key."""


class StoreUnavailable(ObjectStoreError, ObjectStoreUnavailable):
    """S3/R2 did not answer (unreachable, timed out, 5xx) after the client's own retries:
    an infrastructure fault, not the deployment's (see deploy_platform.contracts.errors)."""


class StoreDiskError(ObjectStoreError, DiskError):
    """The local object directory's disk is full or failing (ENOSPC, EDQUOT, EIO, EROFS)."""


@dataclass(frozen=True)
class ObjectInfo:
    """What `head` and `list` know about an object.

    `content_type` is the type given when the object was stored (S3) or guessed
    from the key (a local directory keeps no metadata; see `guess_content_type`);
    `list` may leave it None. `etag` is the store's own (S3), or None.
    `last_modified` is when the object was last written, in Unix seconds by the
    store's clock (S3: whole seconds; a local file's mtime), None if unknown;
    garbage collection sweeps only bodies written before its mark began.
    """

    key: str
    size: int
    etag: str | None = None
    content_type: str | None = None
    last_modified: float | None = None


# A compressed file stored as-is is of the compression's type: `x.tar.gz` is
# application/gzip, not the application/x-tar that mimetypes names first.
_ENCODING_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}


def guess_content_type(key: str) -> str | None:
    """The content type for an object stored under `key`, from its name, if known."""
    content_type, encoding = mimetypes.guess_type(key, strict=False)
    if encoding:
        return _ENCODING_TYPES.get(encoding, "application/octet-stream")
    return content_type


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
