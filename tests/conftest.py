"""Shared fixtures: real servers on loopback, never mocks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.redis_state import PlatformState

pytest_plugins = [
    "tests.support.git_fixtures",
    "tests.support.s3_fixtures",
    "tests.support.cloudflare_kv_server",
    "tests.support.github_status_server",
    "tests.support.alias_changes",
    "tests.support.postgres",
    "tests.support.environment",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A `network` test is `slow` too: the fast subset (not e2e and not slow) downloads nothing."""
    for item in items:
        if item.get_closest_marker("network") and not item.get_closest_marker("slow"):
            raise pytest.UsageError(f"{item.nodeid} is marked network but not slow")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on a free port for the whole session (never the machine's)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=False).start()
    yield server
    server.stop()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses."""
    return f"dptest:{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def state(redis_server: RedisServer, redis_prefix: str) -> Iterator[PlatformState]:
    """PlatformState on the private Redis under this test's own prefix."""
    platform_state = PlatformState.from_url(redis_server.url, redis_prefix)
    yield platform_state
    client: redis.Redis[bytes] = platform_state.redis
    for key in client.scan_iter(match=f"{redis_prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def local_store_root(tmp_path: Path) -> Path:
    """An empty directory for a LocalObjectStore."""
    root = tmp_path / "objects"
    root.mkdir()
    return root
