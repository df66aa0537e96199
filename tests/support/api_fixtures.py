"""The control API on real parts: private Redis, a local object store, loopback HTTP.

Import the fixtures into a conftest.py (`from tests.support.api_fixtures import
make_settings, running_api  # noqa: F401`). The API shares the `state` fixture's
Redis prefix, so a test reads what the API wrote through `state`.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from deploy_platform.api import create_app
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import STREAM_START, PlatformState

__all__ = [
    "RunningApi",
    "make_settings",
    "running_api",
    "queued_ids",
    "record_ids",
    "assert_nothing_accepted",
    "unique_name",
]

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str, local_store_root: Path
) -> SettingsFactory:
    """Settings on the private Redis (this test's prefix) and a local store; override any field."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "state_dir": tmp_path / "state",
            "redis_url": redis_server.url,
            "redis_prefix": redis_prefix,
            "storage_url": local_store_root.as_uri(),
        }
        values.update(overrides)
        return Settings(**values)

    return make


@dataclass
class RunningApi:
    """A control API served from a background thread on a free loopback port."""

    url: str
    settings: Settings
    store: LocalObjectStore


class _ServerThread(threading.Thread):
    def __init__(self, settings: Settings) -> None:
        super().__init__(name="control-api", daemon=True)
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(create_app(self.settings))
        try:
            self.loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = int(runner.addresses[0][1])
        except BaseException as exc:  # reported to the test by start()
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(runner.cleanup())
            self.loop.close()

    def start_and_wait(self) -> int:
        self.start()
        self.ready.wait()
        if self.error is not None:
            raise self.error
        return self.port

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.join()


@pytest.fixture
def running_api(
    make_settings: SettingsFactory, local_store_root: Path
) -> Iterator[Callable[..., RunningApi]]:
    """Start the real API over HTTP: `running_api(api_token="...", ...)` with Settings overrides."""
    servers: list[_ServerThread] = []

    def start(**overrides: Any) -> RunningApi:
        settings = make_settings(**overrides)
        server = _ServerThread(settings)
        servers.append(server)
        port = server.start_and_wait()
        return RunningApi(f"http://127.0.0.1:{port}", settings, LocalObjectStore(local_store_root))

    yield start
    for server in servers:
        server.stop()


def queued_ids(state: PlatformState) -> list[str]:
    return [dep for _, dep in state.read_queue(STREAM_START)]


def record_ids(state: PlatformState) -> list[str]:
    keys = state.redis.scan_iter(match=state.key("deployment", "*"))
    return sorted(key.decode().rsplit(":", 1)[-1] for key in keys)


def assert_nothing_accepted(state: PlatformState, store_root: Path) -> None:
    """A refusal left no trace: nothing queued, no record, no stored source."""
    assert queued_ids(state) == []
    assert record_ids(state) == []
    assert not (store_root / "sources").exists() or not any((store_root / "sources").iterdir())


def unique_name(stem: str) -> str:
    """A repository name no other test uses (the git server lives for the whole session)."""
    return f"{stem}_{uuid.uuid4().hex[:8]}"
