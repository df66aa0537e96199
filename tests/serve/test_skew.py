"""Skew protection: fingerprinted assets of an alias's earlier deployments stay reachable.

Deployments are published and aliases moved with the real publisher, so the
pointer's history is the one production writes. The edge's wall clock is a
hand-driven clock that starts after the moves, so "past the grace period" is one
`advance` away, without sleeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import manifest_key
from deploy_platform.projects.domains import add_domain
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from serve.appkeys import FOLLOWER
from serve.headers import IMMUTABLE_CACHE_CONTROL
from tests.serve.conftest import EdgeFactory
from tests.serve.helpers import FakeClock, RawResponse, raw_request
from tests.support.deployments import point_alias, write_deployment

GRACE = 600.0


def deploy(
    store: LocalObjectStore, state: PlatformState, name: str, alias: str = "docs"
) -> tuple[str, str]:
    """A deployment with its own fingerprinted bundle; (id, the bundle's path)."""
    deployment = new_deployment_id()
    digest = hashlib.sha256(deployment.encode()).hexdigest()[:6]
    bundle = f"/assets/{name}-{digest}a1.js"  # a hex hash part, as bundlers write them
    write_deployment(
        store,
        deployment,
        {
            "/index.html": f"<script src={bundle}></script>{name}".encode(),
            bundle: f"bundle {name}".encode(),
            f"/{name}-only.js": b"not fingerprinted",
            "/404.html": f"404 of {name}".encode(),
        },
    )
    point_alias(store, state, alias, deployment)
    return deployment, bundle


async def get(
    edge: TestClient[Any, Any], host: str, path: str, headers: dict[str, str] | None = None
) -> RawResponse:
    return await raw_request(edge, path, host, headers=headers)


async def start(
    start_edge: EdgeFactory, **overrides: Any
) -> tuple[TestClient[Any, Any], FakeClock]:
    wall = FakeClock(time.time() + 1)  # after every move the test made
    edge = await start_edge(skew_grace_seconds=GRACE, wall_clock=wall, **overrides)
    return edge, wall


async def test_the_previous_deployments_bundle_is_served_within_the_grace_period(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    a, a_js = deploy(store, state, "a")
    b, b_js = deploy(store, state, "b")
    add_domain(store, state, "www.example.com", "docs", "localhost")
    edge, _ = await start(start_edge)

    for host in ("docs.localhost", "www.example.com"):
        old = await get(edge, host, a_js)
        assert (old.status, old.body) == (200, b"bundle a"), host
        assert old.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL
        assert (await get(edge, host, "/")).body.endswith(b"b")  # HTML is the current one
        assert (await get(edge, host, b_js)).body == b"bundle b"
        # Not fingerprinted: only ever the current deployment's (here its 404 page).
        only = await get(edge, host, "/a-only.js")
        assert (only.status, only.body) == (404, b"404 of b")

    etag = (await get(edge, "docs.localhost", a_js)).headers["ETag"]
    revalidated = await get(edge, "docs.localhost", a_js, {"If-None-Match": etag})
    assert (revalidated.status, revalidated.body) == (304, b"")
    head = await raw_request(edge, a_js, "docs.localhost", "HEAD")
    assert (head.status, head.headers["Content-Length"]) == (200, str(len(b"bundle a")))

    # A deployment's own host shows that deployment only.
    assert (await get(edge, f"{b}.localhost", a_js)).status == 404
    assert (await get(edge, f"{a}.localhost", a_js)).body == b"bundle a"


async def test_past_the_grace_period_the_old_bundle_is_a_404(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    _, a_js = deploy(store, state, "a")
    deploy(store, state, "b")
    edge, wall = await start(start_edge)
    assert (await get(edge, "docs.localhost", a_js)).status == 200
    wall.advance(GRACE - 2)
    assert (await get(edge, "docs.localhost", a_js)).status == 200
    wall.advance(2)
    gone = await get(edge, "docs.localhost", a_js)
    assert (gone.status, gone.body) == (404, b"404 of b")


async def test_after_two_deploys_both_earlier_bundles_are_served(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    _, a_js = deploy(store, state, "a")
    _, b_js = deploy(store, state, "b")
    deploy(store, state, "c")
    edge, _ = await start(start_edge)
    assert (await get(edge, "docs.localhost", a_js)).body == b"bundle a"
    assert (await get(edge, "docs.localhost", b_js)).body == b"bundle b"


async def test_after_a_rollback_the_rolled_back_bundle_stays_and_the_target_is_current(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    a, a_js = deploy(store, state, "a")
    _, b_js = deploy(store, state, "b")
    point_alias(store, state, "docs", a)  # roll back
    edge, _ = await start(start_edge)
    assert (await get(edge, "docs.localhost", "/")).body.endswith(b"a")
    assert (await get(edge, "docs.localhost", a_js)).body == b"bundle a"  # its own, current
    rolled_back = await get(edge, "docs.localhost", b_js)
    assert (rolled_back.status, rolled_back.body) == (200, b"bundle b")


async def test_preview_aliases_are_protected_too(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    _, a_js = deploy(store, state, "a", alias="feature-x--docs")
    deploy(store, state, "b", alias="feature-x--docs")
    edge, _ = await start(start_edge)
    assert (await get(edge, "feature-x--docs.localhost", a_js)).body == b"bundle a"


async def test_a_zero_grace_period_turns_it_off(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    _, a_js = deploy(store, state, "a")
    deploy(store, state, "b")
    edge = await start_edge(skew_grace_seconds=0)
    assert (await get(edge, "docs.localhost", a_js)).status == 404


async def test_an_earlier_deployment_that_is_gone_or_broken_is_skipped(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    a, a_js = deploy(store, state, "a")
    b, b_js = deploy(store, state, "b")
    deploy(store, state, "c")
    store.delete(manifest_key(a))  # retention removed it
    store.put_bytes(manifest_key(b), b"{broken")
    edge, _ = await start(start_edge)
    for path in (a_js, b_js):
        missing = await get(edge, "docs.localhost", path)
        assert (missing.status, missing.body) == (404, b"404 of c")


async def test_a_new_deploy_while_serving_extends_the_history_at_once(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState
) -> None:
    deploy(store, state, "a")
    _, b_js = deploy(store, state, "b")
    clock = FakeClock()  # never advanced: only the announcement drops the cached history
    edge, _ = await start(start_edge, alias_ttl_seconds=3600.0, clock=clock)
    assert edge.app is not None
    follower = edge.app[FOLLOWER]
    assert follower is not None and await asyncio.to_thread(follower.subscribed.wait, 30)
    assert (await get(edge, "docs.localhost", b_js)).body == b"bundle b"  # current
    deploy(store, state, "c")
    for _ in range(300):
        if (await get(edge, "docs.localhost", "/")).body.endswith(b"c"):
            break
        await asyncio.sleep(0.05)
    served = await get(edge, "docs.localhost", b_js)
    assert (served.status, served.body) == (200, b"bundle b")
    assert served.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL
