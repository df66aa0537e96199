"""Faults of real processes for tests/faults, and a code location that opens a window for them.

- `RestartableRedis`: a private redis-server with AOF in its own data directory;
  `kill()` is a `kill -9`, `restart()` starts it again on the same port and data.
- `kill_s3` / `restart_s3`: the same for a SeaweedFS `S3Server` the test started
  (its ports and data directory are kept, so the bucket and objects come back).
- `FaultHooks`: resources whose methods call a test's function at a chosen moment
  of an in-process run (publish starting, the build done), named by a key, since a
  Dagster resource holds configuration only.
- `retry_when_due`: what the daemon does after a failed run, step by step: the
  failure sensor on it, then recovery sensor ticks until one starts it again.
- `defs`: this module is also a code location for the real daemon (test_infra_retry):
  the platform's definitions with a build that waits for the test's go-ahead
  (`DP_TEST_FAULT_DIR`), the window in which a test breaks Redis.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from deploy_platform import definitions as platform_definitions
from deploy_platform.contracts.progress import Progress, no_progress
from deploy_platform.contracts.records import TERMINAL, DeploymentRecord
from deploy_platform.orchestration.resources.alias_index import AliasIndexResource
from deploy_platform.orchestration.resources.build_runner import (
    BuildLog,
    BuildRequest,
    BuildResult,
    StaticBuildRunner,
)
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.git_source import GitSourceResource
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.orchestration.sensors.infra_retry import InfraRetryPolicy
from deploy_platform.orchestration.sensors.recovery_sensor import (
    RecoveryTick,
    health_checks,
    recover,
)
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.publish.cloudflare_kv import KVAliasIndex
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState

if TYPE_CHECKING:  # the daemon loads this module as a code location: no pytest there
    from tests.support.s3_fixtures import S3Server

__all__ = [
    "RestartableRedis",
    "kill_s3",
    "restart_s3",
    "on",
    "HookedAliasIndex",
    "HookedBuildRunner",
    "PausingBuildRunner",
    "settled",
    "retry_when_due",
    "run_resources",
    "defs",
]

#: Functions the hooked resources call, by key (a resource holds configuration only).
_HOOKS: dict[str, Callable[[], None]] = {}


def on(action: Callable[[], None]) -> str:
    """Register `action` for a hooked resource; returns its key."""
    key = uuid.uuid4().hex
    _HOOKS[key] = action
    return key


def _call(key: str) -> None:
    action = _HOOKS.get(key)
    if action is not None:
        action()


class HookedAliasIndex(AliasIndexResource):
    """No KV index, as without DP_CF_*; calls the hook when published_deployment starts."""

    hook: str

    def index(
        self, state: PlatformState, warn: Callable[[str], None] | None = None
    ) -> KVAliasIndex | None:
        _call(self.hook)
        return super().index(state, warn)


class HookedBuildRunner(StaticBuildRunner):
    """A static build that calls the hook once it is done."""

    hook: str

    def build(
        self,
        source_dir: Path,
        log: BuildLog,
        request: BuildRequest | None = None,
        store: ObjectStore | None = None,
        progress: Progress = no_progress,
    ) -> BuildResult:
        result = super().build(source_dir, log, request, store, progress)
        _call(self.hook)
        return result


class PausingBuildRunner(StaticBuildRunner):
    """Says `building-<n>` in `fault_dir`, then waits for `fault_dir/go` before building."""

    fault_dir: str

    def build(
        self,
        source_dir: Path,
        log: BuildLog,
        request: BuildRequest | None = None,
        store: ObjectStore | None = None,
        progress: Progress = no_progress,
    ) -> BuildResult:
        where = Path(self.fault_dir)
        (where / f"building-{uuid.uuid4().hex[:8]}").touch()
        deadline = time.monotonic() + 300
        while not (where / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return super().build(source_dir, log, request, store, progress)


@dataclass
class RestartableRedis:
    """A redis-server with AOF persistence that a test may kill -9 and start again."""

    data_dir: Path
    server: RedisServer | None = None
    port: int = 0
    kills: int = field(default=0)

    def start(self) -> RestartableRedis:
        self.server = RedisServer(self.data_dir, port=self.port, persistent=True).start()
        self.port = self.server.port
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """`kill -9`: no chance to write anything more."""
        assert self.server is not None and self.server.process is not None
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait()
        self.server.process = None
        self.kills += 1

    def restart(self) -> None:
        """The same port, data directory and AOF, as a supervisor would."""
        self.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def kill_s3(server: S3Server) -> None:
    """`kill -9` of the SeaweedFS process the test started (its data stays on disk)."""
    process = server.process
    assert process is not None and process.poll() is None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    server.process = None
    # What a graceful stop removes: its gRPC unix sockets, named by this server's ports.
    for name in ("master", "volume", "filer", "s3"):
        port = server.ports.get(f"{name}_grpc")
        if port:
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)


def restart_s3(server: S3Server) -> None:
    """SeaweedFS again on the same ports and data directory; returns once it takes writes."""
    server.start()


def run_resources(
    redis_url: str, prefix: str, object_store: ObjectStoreResource, **overrides: Any
) -> dict[str, Any]:
    """The resources `definitions.py` builds from DP_* variables, on the test's servers."""
    return {
        "redis": RedisResource(url=redis_url, prefix=prefix),
        "object_store": object_store,
        "git_source": GitSourceResource(
            allow_hosts="127.0.0.1", max_repo_bytes=64 * 1024 * 1024, timeout_seconds=60
        ),
        "build_runner": StaticBuildRunner(),
        "alias_index": AliasIndexResource(),  # no DP_CF_*: no KV index
        "commit_status": CommitStatusResource(),  # no DP_GITHUB_TOKEN: no statuses
        **overrides,
    }


def settled(state: PlatformState, deployment_id: str) -> DeploymentRecord | None:
    record = state.find(deployment_id)
    return record if record is not None and record.status in TERMINAL else None


def retry_when_due(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    failed: dg.ExecuteInProcessResult,
    policy: InfraRetryPolicy,
    seconds: float,
) -> tuple[list[RecoveryTick], dg.RunRequest]:
    """What the daemon does after `failed`: the run-failure sensor on it, then recovery
    sensor ticks (with the real health checks) until one starts the deployment again.

    Returns every tick until then and the run request of the retry."""
    from tests.orchestration.test_sensors import evaluate_failure_sensor  # pytest-side only
    from tests.support.waiting import eventually

    evaluate_failure_sensor(instance, resources, failed)
    state: PlatformState = resources["redis"].state()
    ticks: list[RecoveryTick] = []

    def tick_retries() -> dg.RunRequest | None:
        tick = recover(
            instance, state, time.time(), health_checks(state, resources["object_store"]), policy
        )
        ticks.append(tick)
        if tick.retries:
            [request] = tick.retries
            return request
        return None

    request = eventually(
        tick_retries,
        timeout=seconds,
        interval=1.0,
        message=lambda: f"no retry; last tick: {ticks[-1] if ticks else None}",
    )
    return ticks, request


# Only one Definitions object may live at module scope, hence the module import.
defs = dg.Definitions(
    assets=platform_definitions.defs.assets,
    asset_checks=platform_definitions.defs.asset_checks,
    jobs=platform_definitions.defs.jobs,
    sensors=platform_definitions.defs.sensors,
    executor=dg.in_process_executor,
    resources={
        **(platform_definitions.defs.resources or {}),
        "build_runner": PausingBuildRunner(fault_dir=dg.EnvVar("DP_TEST_FAULT_DIR")),
    },
)
