"""A moved alias is seen after the TTL, or at once when the move is announced on Redis."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import manifest_key
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from serve.appkeys import FOLLOWER
from tests.serve.conftest import EdgeFactory
from tests.serve.helpers import FakeClock
from tests.support.deployments import point_alias, write_deployment
from tests.support.waiting import eventually_async


async def body_of(client: TestClient[Any, Any], label: str) -> tuple[int, bytes]:
    async with client.get("/", headers={"Host": f"{label}.localhost"}) as response:
        return response.status, await response.read()


def two_deployments(store: LocalObjectStore) -> tuple[str, str]:
    first, second = new_deployment_id(), new_deployment_id()
    write_deployment(store, first, {"/index.html": b"first"})
    write_deployment(store, second, {"/index.html": b"second"})
    return first, second


async def test_an_alias_move_is_seen_once_the_ttl_has_passed(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    clock = FakeClock()
    # Store only: no announcement reaches this edge, only the TTL brings the move.
    edge = await start_edge(redis_url="", alias_ttl_seconds=5.0, clock=clock)
    first, second = two_deployments(store)
    point_alias(store, state, "docs", first)
    assert await body_of(edge, "docs") == (200, b"first")

    point_alias(store, state, "docs", second)
    clock.advance(4.9)
    assert await body_of(edge, "docs") == (200, b"first")  # still within the TTL
    clock.advance(0.2)
    assert await body_of(edge, "docs") == (200, b"second")
    # The immutable URL of the first deployment keeps serving it.
    assert await body_of(edge, first) == (200, b"first")


async def test_a_new_alias_is_seen_once_the_negative_ttl_has_passed(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    clock = FakeClock()
    edge = await start_edge(redis_url="", negative_ttl_seconds=2.0, clock=clock)
    first, _ = two_deployments(store)
    assert (await body_of(edge, "docs"))[0] == 404
    point_alias(store, state, "docs", first)
    assert (await body_of(edge, "docs"))[0] == 404  # "no such site" is remembered briefly
    clock.advance(2.0)
    assert await body_of(edge, "docs") == (200, b"first")


async def test_a_deployment_published_after_a_miss_is_served_after_the_negative_ttl(
    start_edge: EdgeFactory, store: LocalObjectStore
) -> None:
    clock = FakeClock()
    edge = await start_edge(negative_ttl_seconds=1.0, clock=clock)
    deployment_id = new_deployment_id()
    assert (await body_of(edge, deployment_id))[0] == 404
    write_deployment(store, deployment_id, {"/index.html": b"late"})
    clock.advance(1.0)
    assert await body_of(edge, deployment_id) == (200, b"late")


async def test_an_announced_move_is_seen_before_the_ttl(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    clock = FakeClock()  # never advanced: only the announcement can bring the move
    edge = await start_edge(alias_ttl_seconds=3600.0, clock=clock)
    assert edge.app is not None
    follower = edge.app[FOLLOWER]
    assert follower is not None
    assert await asyncio.to_thread(follower.subscribed.wait, 30)

    first, second = two_deployments(store)
    point_alias(store, state, "docs", first)
    assert await body_of(edge, "docs") == (200, b"first")
    point_alias(store, state, "docs", second)

    async def moved() -> bool:
        return await body_of(edge, "docs") == (200, b"second")

    # The message crosses a thread and the loop: wait for it.
    await eventually_async(
        moved,
        timeout=15,
        interval=0.05,
        message="docs serves the second deployment",
    )


async def test_a_removed_deployment_announced_on_redis_stops_being_served(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    """Manifests are cached without a TTL: retention announces a removal (regression:
    a deployment gc removed kept being served by an edge that had served it)."""
    edge = await start_edge(negative_ttl_seconds=0.0)
    assert edge.app is not None
    follower = edge.app[FOLLOWER]
    assert follower is not None
    assert await asyncio.to_thread(follower.subscribed.wait, 30)
    gone, kept = two_deployments(store)
    assert await body_of(edge, gone) == (200, b"first")
    assert await body_of(edge, kept) == (200, b"second")

    store.delete(manifest_key(gone))
    assert await body_of(edge, gone) == (200, b"first")  # cached: immutable until announced
    state.redis.publish(state.key("deployment-removed"), gone)

    async def removed() -> bool:
        return (await body_of(edge, gone))[0] == 404

    # The message crosses a thread and the loop: wait for it.
    await eventually_async(
        removed,
        timeout=15,
        interval=0.05,
        message=f"{gone} answers 404",
    )
    assert await body_of(edge, kept) == (200, b"second")
