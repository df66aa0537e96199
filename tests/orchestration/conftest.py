"""A real Dagster instance, the real private Redis, a local object store and real git."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from deploy_platform.orchestration.resources.alias_index import AliasIndexResource
from deploy_platform.orchestration.resources.build_runner import StaticBuildRunner
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.git_source import GitSourceResource
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A real, persistent Dagster instance in a temporary DAGSTER_HOME."""
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def store(local_store_root: Path) -> ObjectStore:
    return LocalObjectStore(local_store_root)


@pytest.fixture
def resources(
    redis_server: RedisServer,
    state: PlatformState,
    local_store_root: Path,
    git_allow_hosts: tuple[str, ...],
) -> dict[str, Any]:
    """The resources `definitions.py` builds from DP_* variables, pointed at the test servers."""
    return {
        "redis": RedisResource(url=redis_server.url, prefix=state.prefix),
        "object_store": ObjectStoreResource(url=local_store_root.as_uri()),
        "git_source": GitSourceResource(
            allow_hosts=",".join(git_allow_hosts),
            max_repo_bytes=64 * 1024 * 1024,
            timeout_seconds=60,
        ),
        "build_runner": StaticBuildRunner(),
        "alias_index": AliasIndexResource(),  # no DP_CF_*: no KV index
        "commit_status": CommitStatusResource(),  # no DP_GITHUB_TOKEN: no commit statuses
    }


@pytest.fixture
def deployer(instance: dg.DagsterInstance, resources: dict[str, Any]) -> Deployer:
    """Runs the deploy job or re-materializes assets on the real instance."""
    return Deployer(instance, resources)
