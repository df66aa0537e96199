"""The in-memory caches: expiry, bounds and shared lookups."""

from __future__ import annotations

import asyncio

from serve.cache import MISSING, LRUCache, SingleFlight, TTLCache
from tests.serve.helpers import FakeClock


def test_ttl_entries_expire_and_none_is_a_cached_answer() -> None:
    clock = FakeClock()
    cache: TTLCache[str, str | None] = TTLCache(10, clock)
    cache.put("docs", "abcdefghij23", ttl=1.0)
    cache.put("gone", None, ttl=5.0)
    assert cache.get("docs") == "abcdefghij23"
    assert cache.get("gone") is None
    assert cache.get("never") is MISSING
    clock.advance(1.0)
    assert cache.get("docs") is MISSING
    assert cache.get("gone") is None
    cache.put("zero", "x", ttl=0)
    assert cache.get("zero") is MISSING


def test_ttl_cache_is_bounded() -> None:
    cache: TTLCache[int, int] = TTLCache(3, FakeClock())
    for i in range(5):
        cache.put(i, i, ttl=60)
    assert len(cache) == 3
    assert cache.get(0) is MISSING and cache.get(4) == 4


def test_lru_drops_the_least_recently_used_by_weight() -> None:
    cache: LRUCache[str, bytes] = LRUCache(10, weigh=len)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"  # now b is the least recently used
    cache.put("c", b"cccc")
    assert cache.get("b") is MISSING
    assert cache.get("a") == b"aaaa" and cache.get("c") == b"cccc"
    assert cache.weight == 8
    cache.put("huge", b"x" * 11)  # larger than the whole cache: not kept
    assert cache.get("huge") is MISSING and cache.weight == 8


async def test_single_flight_shares_one_fetch() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    waiters = [asyncio.ensure_future(flight.run("k", fetch)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [42] * 5
    assert calls == 1
    assert await flight.run("k", fetch) == 42 and calls == 2  # finished: the next call fetches
