"""Every cache of the edge-origin is bounded, and manifests are weighed by what they cost.

Guards the memory goal (resident memory under the configured cache size + 150 MB
with 10,000 deployments): a 20,000-file manifest must not count as "one entry",
and a cache full of tiny bodies must not hold several times its budget.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import re
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import FileEntry, Manifest, manifest_key
from deploy_platform.publish.rule_files import load_routes
from deploy_platform.storage.local import LocalObjectStore
from serve.bodies import BodyReader
from serve.cache import MISSING, LRUCache, TTLCache
from serve.config import EdgeConfig
from serve.lookup import DeploymentLookup
from serve.memory import ALIAS_ENTRIES, BODY_ENTRY_OVERHEAD, NEGATIVE_ENTRIES, manifest_weight
from tests.serve.helpers import FakeClock
from tests.support.deployments import write_deployment


def manifest_json(files: int, redirects: int = 0, header_rules: int = 0) -> bytes:
    """A manifest like a real site's: nested paths, mixed types, real-looking hashes."""
    entries = {}
    for i in range(files):
        path = f"/docs/section-{i % 40}/page-{i:05d}.{('html', 'js', 'css', 'png')[i % 4]}"
        entries[path] = FileEntry.for_blob(path, hashlib.sha256(path.encode()).hexdigest(), i)
    redirect_text = "\n".join(f"/old/{i}/* /new/{i}/:splat 301" for i in range(redirects))
    header_text = "\n".join(f"/area-{i}/*\n  X-Area: {i}" for i in range(header_rules))
    routes, _warnings = load_routes(redirect_text or None, header_text or None, {})
    return Manifest("abcdefghij23", entries, 1.0, routes=routes or None).to_json()


def measured_bytes(raw: bytes) -> int:
    """What parsing the manifest allocates and keeps (its compiled rules included)."""
    re.purge()  # rules compiled earlier would otherwise be shared, not counted
    gc.collect()
    tracemalloc.start()
    try:
        manifest = Manifest.from_json(raw)
        kept, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del manifest
    return kept


@pytest.mark.parametrize(
    ("files", "redirects", "header_rules"),
    [(1, 0, 0), (3, 0, 0), (200, 0, 0), (20_000, 0, 0), (3, 20, 5), (5, 2_000, 100)],
    ids=["1 file", "3 files", "200 files", "20,000 files", "25 rules", "2,100 rules"],
)
def test_a_manifests_weight_covers_what_it_costs_in_memory(
    files: int, redirects: int, header_rules: int
) -> None:
    raw = manifest_json(files, redirects, header_rules)
    estimate = manifest_weight(len(raw), Manifest.from_json(raw))
    actual = measured_bytes(raw)
    # Never an underestimate (the cache would outgrow its budget), and not so high
    # that the budget holds far fewer manifests than it could.
    assert actual <= estimate <= 2 * actual, (actual, estimate)


def test_a_20000_file_manifest_weighs_thousands_of_times_a_3_file_one() -> None:
    small = manifest_json(3)
    large = manifest_json(20_000)
    ratio = manifest_weight(len(large), Manifest.from_json(large)) / manifest_weight(
        len(small), Manifest.from_json(small)
    )
    assert ratio > 2_000


def test_lru_keeps_an_explicit_weight_and_an_optional_entry_cap() -> None:
    cache: LRUCache[str, str] = LRUCache(100, max_entries=2)
    cache.put("a", "A", weight=60)
    cache.put("b", "B", weight=30)
    assert cache.weight == 90
    cache.put("c", "C", weight=5)  # the third entry: over the cap, "a" goes
    assert cache.get("a") is MISSING and len(cache) == 2 and cache.weight == 35
    cache.put("d", "D", weight=101)  # heavier than the whole budget: not kept, nothing lost
    assert cache.get("d") is MISSING and len(cache) == 2

    nothing: LRUCache[str, str] = LRUCache(100, max_entries=0)
    nothing.put("a", "A", weight=1)
    assert len(nothing) == 0 and nothing.weight == 0


def test_answers_per_host_are_bounded_however_many_hosts_are_asked() -> None:
    clock = FakeClock()
    aliases: TTLCache[str, str | None] = TTLCache(ALIAS_ENTRIES, clock)
    for i in range(ALIAS_ENTRIES + 5_000):
        aliases.put(f"random-host-{i}", None, ttl=60)
    assert len(aliases) == ALIAS_ENTRIES
    assert NEGATIVE_ENTRIES <= 10_000


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    """The I/O threads the lookup and the body reader use, as in the app."""
    pool = ThreadPoolExecutor(max_workers=2)
    yield pool
    pool.shutdown(wait=True)


def publish_sites(store: LocalObjectStore, count: int) -> list[str]:
    ids = [new_deployment_id() for _ in range(count)]
    for deployment_id in ids:
        write_deployment(
            store,
            deployment_id,
            {
                "/index.html": f"<h1>{deployment_id}</h1>".encode(),
                "/app.js": b"console.log(1)",
                "/app.css": b"body{}",
            },
        )
    return ids


def stored_weight(store: LocalObjectStore, deployment_id: str) -> int:
    raw = store.get_bytes(manifest_key(deployment_id))
    return manifest_weight(len(raw), Manifest.from_json(raw))


async def test_the_manifest_cache_stays_within_its_byte_budget(
    store: LocalObjectStore, local_store_root: Path, executor: ThreadPoolExecutor
) -> None:
    small = publish_sites(store, 20)
    big = new_deployment_id()
    write_deployment(store, big, {f"/docs/page-{i}.html": b"p%d" % i for i in range(2_000)})
    small_weight, big_weight = stored_weight(store, small[0]), stored_weight(store, big)
    assert big_weight > 100 * small_weight
    budget = big_weight + 5 * small_weight + 100  # weights differ by a few bytes (timestamps)
    config = EdgeConfig(storage_url=local_store_root.as_uri(), manifest_cache_bytes=budget)
    lookup = DeploymentLookup(store, None, executor, config)

    for deployment_id in small:
        assert (await lookup.manifest(deployment_id)) is not None
    assert len(lookup.manifests) == 20  # 20 small ones fit where one big one does

    manifest = await lookup.manifest(big)
    assert manifest is not None and len(manifest.files) == 2_000
    assert lookup.manifests.get(big) is manifest
    assert lookup.manifests.weight <= budget
    assert len(lookup.manifests) <= 6  # the big one pushed out all but ~5 small ones


async def test_a_manifest_larger_than_the_budget_is_served_but_not_cached(
    store: LocalObjectStore,
    local_store_root: Path,
    executor: ThreadPoolExecutor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    small = publish_sites(store, 3)
    big = new_deployment_id()
    write_deployment(store, big, {f"/page-{i}.html": b"p%d" % i for i in range(500)})
    budget = sum(stored_weight(store, deployment_id) for deployment_id in small)
    config = EdgeConfig(storage_url=local_store_root.as_uri(), manifest_cache_bytes=budget)
    lookup = DeploymentLookup(store, None, executor, config)
    for deployment_id in small:
        await lookup.manifest(deployment_id)

    for _ in range(2):
        manifest = await lookup.manifest(big)
        assert manifest is not None and len(manifest.files) == 500
    assert lookup.manifests.get(big) is MISSING
    assert all(lookup.manifests.get(d) is not MISSING for d in small)  # nothing evicted
    # The operator is told once (not on every request) which setting to raise.
    warnings = [
        r.getMessage() for r in caplog.records if "DP_EDGE_MANIFEST_CACHE_BYTES" in r.getMessage()
    ]
    assert len(warnings) == 1 and big in warnings[0]


async def test_tiny_bodies_are_counted_with_their_overhead(
    store: LocalObjectStore, local_store_root: Path, executor: ThreadPoolExecutor
) -> None:
    deployment_id = new_deployment_id()
    manifest = write_deployment(
        store, deployment_id, {f"/f{i}.txt": b"%010d" % i for i in range(30)}
    )
    budget = 10 * (10 + BODY_ENTRY_OVERHEAD)
    config = EdgeConfig(storage_url=local_store_root.as_uri(), body_cache_bytes=budget)
    reader = BodyReader(store, executor, config)
    bodies = await asyncio.gather(*(reader.read(entry) for entry in manifest.files.values()))
    assert sorted(bodies) == [b"%010d" % i for i in range(30)]  # every one served
    # Counted by length alone, all 30 (300 bytes) would fit in a 4,100-byte budget.
    assert len(reader.cache) == 10 and reader.cache.weight == budget
