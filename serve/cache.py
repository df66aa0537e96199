"""Small in-memory caches for one event loop (no locks: only the loop touches them).

TTLCache     answers that may change (alias -> deployment, "no such site"),
             each kept for its own time-to-live, bounded by entry count
LRUCache     answers that never change (manifests, content-addressed bodies),
             bounded by a total weight (bytes, see `serve.memory`) and
             optionally by a number of entries
SingleFlight one lookup per key at a time: when a popular entry expires, the
             requests waiting for it share one Redis or store call
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable
from enum import Enum
from functools import partial
from typing import Any, Final, Generic, Literal, TypeVar

__all__ = ["Missing", "MISSING", "TTLCache", "LRUCache", "SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Missing(Enum):
    """A cache miss, distinct from a cached `None` (a remembered "does not exist")."""

    MISSING = "missing"


MISSING: Final = Missing.MISSING


class TTLCache(Generic[K, V]):
    """Entries that expire; the oldest go first when the cache is full."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | Literal[Missing.MISSING]:
        found = self._entries.get(key)
        if found is None:
            return MISSING
        expires, value = found
        if self._clock() >= expires:
            del self._entries[key]
            return MISSING
        return value

    def put(self, key: K, value: V, ttl: float) -> None:
        if ttl <= 0 or self.max_entries <= 0:
            return
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + ttl, value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class LRUCache(Generic[K, V]):
    """Least recently used entries go first once the total weight passes `max_weight`
    (or their number passes `max_entries`, when given)."""

    def __init__(
        self,
        max_weight: int,
        weigh: Callable[[V], int] = lambda _value: 1,
        max_entries: int | None = None,
    ) -> None:
        self.max_weight = max_weight
        self.max_entries = max_entries
        self._weigh = weigh
        self._entries: OrderedDict[K, tuple[int, V]] = OrderedDict()
        self.weight = 0

    def get(self, key: K) -> V | Literal[Missing.MISSING]:
        found = self._entries.get(key)
        if found is None:
            return MISSING
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: K, value: V, weight: int | None = None) -> None:
        """Keep `value`; `weight` overrides `weigh(value)` when the caller knows better."""
        if weight is None:
            weight = self._weigh(value)
        old = self._entries.pop(key, None)
        if old is not None:
            self.weight -= old[0]
        if weight > self.max_weight or self.max_entries == 0:
            return  # could never fit: keeping it would only push everything else out
        self._entries[key] = (weight, value)
        self.weight += weight
        while self.weight > self.max_weight or (
            self.max_entries is not None and len(self._entries) > self.max_entries
        ):
            _key, (dropped, _value) = self._entries.popitem(last=False)
            self.weight -= dropped

    def discard(self, key: K) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.weight -= old[0]

    def clear(self) -> None:
        self._entries.clear()
        self.weight = 0

    def __len__(self) -> int:
        return len(self._entries)


class SingleFlight(Generic[K, V]):
    """Run at most one `fetch` per key at a time; callers of the same key share its result.

    The fetch runs as its own task, so a caller that goes away (client
    disconnected) does not cancel it for the others.
    """

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, fetch: Callable[[], Coroutine[Any, Any, V]]) -> V:
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(fetch())
            self._running[key] = task
            task.add_done_callback(partial(self._finished, key))
        return await asyncio.shield(task)

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so a failure nobody awaited is not logged twice
