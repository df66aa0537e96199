"""The `deploy-platform` command against a real control API on a loopback port.

No Dagster runs here: the `pipeline` fixture stands in for it by moving the
queued record through its stages in Redis, exactly the writes the pipeline makes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy_platform.cli import deploy
from deploy_platform.contracts.records import Status
from deploy_platform.storage.redis_state import STREAM_START, PlatformState
from tests.support import api_fixtures
from tests.support.environment import PlatformEnv

# Fixtures shared with tests/api.
make_settings = api_fixtures.make_settings
running_api = api_fixtures.running_api


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, platform_env: PlatformEnv, tmp_path: Path) -> Path:
    """No token or API URL from the machine; a private state directory; quick polling."""
    state_dir = tmp_path / "cli-state"
    state_dir.mkdir()
    platform_env.unset("DP_API_TOKEN", "DP_API_URL")
    platform_env.set(DP_STATE_DIR=str(state_dir))
    monkeypatch.setattr(deploy, "POLL_SECONDS", 0.05)
    return state_dir


@pytest.fixture
def pipeline(state: PlatformState) -> Iterator[Callable[..., None]]:
    """`pipeline(Status.READY, files=3, ...)`: once a deployment is queued, walk it to the end."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def finish(final: Status, **changes: Any) -> None:
        def work() -> None:
            entries: list[tuple[str, str]] = []
            while not entries and not stop.is_set():
                entries = state.read_queue(STREAM_START, block_ms=100)
            if not entries:
                return
            deployment_id = entries[0][1]
            for stage in (Status.CLONING, Status.BUILDING, Status.PUBLISHING):
                state.set_status(deployment_id, stage)
            state.set_status(deployment_id, final, **changes)

        thread = threading.Thread(target=work, name="pipeline-stand-in", daemon=True)
        thread.start()
        threads.append(thread)

    yield finish
    stop.set()
    for thread in threads:
        thread.join()
