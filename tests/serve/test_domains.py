"""Custom domains at the edge: a whole host serves its project's production alias."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from deploy_platform.contracts.domains import domain_key
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.projects.domains import add_domain, remove_domain
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from serve.appkeys import FOLLOWER
from tests.serve.conftest import EdgeFactory
from tests.serve.helpers import FakeClock, raw_request
from tests.support.deployments import point_alias, write_deployment
from tests.support.waiting import eventually_async

WWW = "www.example.com"


async def fetch(client: TestClient[Any, Any], host: str, path: str = "/") -> tuple[int, bytes]:
    response = await raw_request(client, path, host)
    return response.status, response.body


def production(store: LocalObjectStore, state: PlatformState, body: bytes) -> str:
    deployment = new_deployment_id()
    write_deployment(store, deployment, {"/index.html": body, "/about/index.html": b"about"})
    point_alias(store, state, "docs", deployment)
    return deployment


async def wait_subscribed(edge: TestClient[Any, Any]) -> None:
    assert edge.app is not None
    follower = edge.app[FOLLOWER]
    assert follower is not None
    assert await asyncio.to_thread(follower.subscribed.wait, 30)


async def serves(edge: TestClient[Any, Any], host: str, want: tuple[int, bytes]) -> None:
    """Until `host` answers `want`: the message crosses a thread and the loop."""

    async def answered() -> bool:
        return await fetch(edge, host) == want

    await eventually_async(answered, timeout=15, interval=0.05, message=f"{host} answers {want}")


async def test_a_custom_domain_serves_the_projects_production_deployment(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    production(store, state, b"live docs")
    add_domain(store, state, WWW, "docs", "localhost")
    assert await fetch(edge, WWW) == (200, b"live docs")
    assert await fetch(edge, "WWW.Example.COM.:8080") == (200, b"live docs")
    assert await fetch(edge, WWW, "/about/") == (200, b"about")
    status, body = await fetch(edge, "other.example.com")
    assert status == 404 and b"nothing deployed at this address" in body


async def test_a_domain_of_a_project_without_a_production_deployment_is_a_404(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    add_domain(store, state, WWW, "blog", "localhost")
    assert (await fetch(edge, WWW))[0] == 404


async def test_a_domain_added_while_serving_is_seen_at_once_through_pub_sub(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    clock = FakeClock()  # never advanced: only the announcement can bring the change
    edge = await start_edge(negative_ttl_seconds=3600.0, alias_ttl_seconds=3600.0, clock=clock)
    await wait_subscribed(edge)
    production(store, state, b"live docs")
    assert (await fetch(edge, WWW))[0] == 404  # "no such domain" is now cached for an hour
    add_domain(store, state, WWW, "docs", "localhost")
    await serves(edge, WWW, (200, b"live docs"))

    remove_domain(store, state, WWW, "localhost")

    async def removed() -> bool:
        return (await fetch(edge, WWW))[0] == 404

    await eventually_async(removed, timeout=15, interval=0.05, message=f"{WWW} answers 404")


async def test_without_redis_a_new_domain_is_seen_once_the_negative_ttl_has_passed(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    clock = FakeClock()
    edge = await start_edge(redis_url="", negative_ttl_seconds=2.0, clock=clock)
    production(store, state, b"live docs")
    assert (await fetch(edge, WWW))[0] == 404
    add_domain(store, state, WWW, "docs", "localhost")
    clock.advance(1.9)
    assert (await fetch(edge, WWW))[0] == 404  # still remembered as unknown
    clock.advance(0.1)
    assert await fetch(edge, WWW) == (200, b"live docs")


async def test_a_domain_follows_its_projects_production_alias(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    await wait_subscribed(edge)
    first = production(store, state, b"first")
    add_domain(store, state, WWW, "docs", "localhost")
    assert await fetch(edge, WWW) == (200, b"first")
    production(store, state, b"second")
    await serves(edge, WWW, (200, b"second"))
    point_alias(store, state, "docs", first)  # a rollback moves the domain too
    await serves(edge, WWW, (200, b"first"))


async def test_the_store_answers_when_the_redis_index_lacks_the_domain_or_holds_garbage(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    production(store, state, b"live docs")
    add_domain(store, state, WWW, "docs", "localhost")
    state.redis.delete(state.key("domain", WWW))  # Redis rebuilt without it
    assert await fetch(edge, WWW) == (200, b"live docs")
    add_domain(store, state, "two.example.com", "docs", "localhost")
    state.redis.set(state.key("domain", "two.example.com"), "Not A Project")
    assert await fetch(edge, "two.example.com") == (200, b"live docs")


async def test_an_unreadable_domain_pointer_is_the_platforms_500(
    start_edge: EdgeFactory, store: LocalObjectStore
) -> None:
    edge = await start_edge(redis_url="")
    store.put_bytes(domain_key(WWW), b"not json")
    status, body = await fetch(edge, WWW)
    assert status == 500
    assert b"docs" not in body
