"""Fixtures for the edge-origin: a real loopback server over a real store and Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.local import LocalObjectStore
from serve.app import create_app
from serve.config import EdgeConfig

EdgeFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    """A LocalObjectStore in the test's temporary directory."""
    return LocalObjectStore(local_store_root)


@pytest.fixture
def edge_config(local_store_root: Path, redis_server: RedisServer, redis_prefix: str) -> EdgeConfig:
    """Edge settings over the test's local store and the private Redis (same prefix as `state`)."""
    return EdgeConfig(
        storage_url=local_store_root.as_uri(),
        redis_url=redis_server.url,
        redis_prefix=redis_prefix,
    )


@pytest.fixture
def start_edge(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], edge_config: EdgeConfig
) -> EdgeFactory:
    """Start an edge-origin on loopback: `await start_edge(alias_ttl_seconds=5, clock=c)`.

    `clock` drives the caches (monotonic), `wall_clock` the skew grace period.
    """

    async def start(
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
        **overrides: Any,
    ) -> TestClient[Any, Any]:
        config = replace(edge_config, **overrides)
        clocks: dict[str, Callable[[], float]] = {}
        if clock is not None:
            clocks["clock"] = clock
        if wall_clock is not None:
            clocks["wall_clock"] = wall_clock
        return await aiohttp_client(create_app(config, **clocks))

    return start


@pytest.fixture
async def edge(start_edge: EdgeFactory) -> TestClient[Any, Any]:
    """The edge-origin with default settings (local store, private Redis)."""
    return await start_edge()
