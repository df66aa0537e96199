"""A GET's body streamed in chunks, its connection released at the end or on close()."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions

from deploy_platform.storage.base import ObjectStoreError

__all__ = ["BodyChunks"]


class BodyChunks(Iterator[bytes]):
    """Chunks of a GET's body; `fail` turns a broken read into the store's error."""

    def __init__(
        self, body: Any, chunk_size: int, fail: Callable[[BaseException], ObjectStoreError]
    ) -> None:
        self._fail = fail
        self._body = body
        self._chunks: Iterator[bytes] = body.iter_chunks(chunk_size)

    def __iter__(self) -> BodyChunks:
        return self

    def __next__(self) -> bytes:
        if self._body is None:
            raise StopIteration
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            self.close()
            raise self._fail(exc) from None

    def close(self) -> None:
        body = getattr(self, "_body", None)
        if body is not None:
            self._body = None
            body.close()

    def __del__(self) -> None:
        self.close()
