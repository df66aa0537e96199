"""Runs that fail for an infrastructure cause are run again; a build's own failure is not.

- Redis is killed (`kill -9`) in the middle of a run under the real Dagster daemon,
  long enough that the run's calls give up, and started again on the same port and
  AOF: the daemon's recovery sensor runs the deployment again and it ends `ready`.
- An object store that never answers: the deployment is run again up to the
  limit, then failed with a message naming the store, the runs and the last error.
- A build error (fixture app `fail-build`) fails the deployment once, never retried.
- `kill -9` of `up` while a deployment builds: after `up` is started again on the
  same state directory the deployment ends `ready`, never `failed`.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from deploy_platform.contracts.records import Status
from deploy_platform.contracts.tags import INFRA_RETRY_TAG, RETRY_OF_TAG
from deploy_platform.definitions import ENV_VARS
from deploy_platform.orchestration.instance.home import write_dagster_home
from deploy_platform.orchestration.instance.storage import prepare_storage
from deploy_platform.orchestration.resources.build_runner import NodeBuildRunner
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.sensors.infra_retry import InfraRetryPolicy
from deploy_platform.orchestration.sensors.recovery_sensor import health_checks, recover
from deploy_platform.processes.ports import free_port
from deploy_platform.source.archive.pack import pack_directory
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.faults.infra_support import RestartableRedis, run_resources
from tests.orchestration.support import Deployer, pack_site, queue_upload, unique
from tests.orchestration.test_daemon import (
    running_daemon,
    runs_for_partition,
    wait_for,
    wait_for_run_end,
)
from tests.orchestration.test_sensors import evaluate_failure_sensor
from tests.support.environment import TOOLCHAIN_CACHE, child_env
from tests.support.platform import start_platform
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "apps"
LOCATION = Path(__file__).with_name("infra_support.py")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    """A Redis with AOF of this test's own: the test kills it."""
    server = RestartableRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def test_redis_killed_mid_run_and_restarted_the_deployment_ends_ready(
    tmp_path: Path, own_redis: RestartableRedis, redis_prefix: str
) -> None:
    home = tmp_path / "dagster"
    write_dagster_home(home, max_concurrent_runs=2)
    objects = tmp_path / "objects"
    faults = tmp_path / "faults"
    faults.mkdir()
    state = PlatformState.from_url(own_redis.url, redis_prefix)
    store = LocalObjectStore(objects)
    env = child_env(
        **{
            # Every variable the code location reads, empty unless set below.
            **{name: "" for name in ENV_VARS},
            "DAGSTER_HOME": str(home),
            "DP_REDIS_URL": own_redis.url,
            "DP_REDIS_PREFIX": redis_prefix,
            "DP_STORAGE_URL": objects.as_uri(),
            "DP_MAX_REPO_BYTES": str(64 * 1024 * 1024),
            "DP_TOOL_CACHE_DIR": str(TOOLCHAIN_CACHE),
            "DP_BASE_DOMAIN": "localhost",
            "DP_TEST_FAULT_DIR": str(faults),
        }
    )
    prepare_storage(env, home)
    workspace = tmp_path / "fault-workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_file:\n"
        f"      relative_path: {LOCATION}\n"
        f"      working_directory: {Path(__file__).resolve().parents[2]}\n"
        "      location_name: faults\n"
    )
    log = tmp_path / "daemon.log"
    project = unique("redis-kill")
    record = queue_upload(state, store, project, pack_site(tmp_path, {"index.html": "ok"}))
    state.enqueue(record.id)

    with running_daemon(env, log, workspace):
        eventually(
            lambda: any(faults.glob("building-*")),
            timeout=240,
            interval=0.2,
            message="the build started",
        )
        own_redis.kill()
        (faults / "go").touch()  # the build goes on; its next Redis call meets nothing
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            eventually(
                lambda: any(
                    run.status is dg.DagsterRunStatus.FAILURE
                    for run in runs_for_partition(instance, record.id)
                ),
                timeout=240,
                interval=0.2,
                message="the run gave up on Redis",
            )
        finally:
            instance.dispose()
        own_redis.restart()  # same port, data directory and AOF
        done = wait_for(state, record.id, log)
        wait_for_run_end(env, record.id, log)

    assert own_redis.kills == 1
    assert done.status is Status.READY, done.error
    assert done.error is None and done.retrying is None
    assert Status.FAILED.value not in state.get(record.id).timestamps  # never failed
    assert state.get_alias(project) == record.id
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        failed, retried = runs_for_partition(instance, record.id)
    finally:
        instance.dispose()
    assert failed.status is dg.DagsterRunStatus.FAILURE
    assert retried.status is dg.DagsterRunStatus.SUCCESS
    assert retried.tags[INFRA_RETRY_TAG] == "1"
    assert retried.tags[RETRY_OF_TAG] == failed.run_id
    assert "the platform's Redis" in log.read_text()
    state.redis.close()


def test_an_object_store_that_never_answers_fails_the_deployment_after_the_limit(
    instance: dg.DagsterInstance,
    state: PlatformState,
    tmp_path: Path,
    local_store_root: Path,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    object_store = ObjectStoreResource(
        url=f"s3://never-up?endpoint_url={dead}&region=us-east-1",
        access_key_id="AKTEST",
        secret_access_key="secret",
    )
    resources = run_resources(state.where(), state.prefix, object_store)
    record = queue_upload(
        state,
        LocalObjectStore(local_store_root),
        unique("dead-store"),
        pack_site(tmp_path, {"index.html": "never"}),
    )
    policy = InfraRetryPolicy(max_retries=2, backoff_seconds=0.0, settle_seconds=0.0)
    health = health_checks(state, object_store)

    tags: dict[str, str] = {}
    runs = 0
    while True:
        result = Deployer(instance, resources).run(record.id, extra_tags=tags)
        runs += 1
        assert not result.success
        evaluate_failure_sensor(instance, resources, result)
        assert state.get(record.id).status is not Status.FAILED  # the sensor left it
        tick = recover(instance, state, time.time(), health, policy)
        if not tick.retries:
            break
        [request] = tick.retries
        assert request.tags[INFRA_RETRY_TAG] == str(runs)
        tags = dict(request.tags)
        assert runs <= policy.max_retries, "retried beyond the limit"

    assert runs == policy.max_retries + 1
    failed = state.get(record.id)
    assert failed.status is Status.FAILED and failed.retrying is None
    assert failed.error is not None
    assert failed.error.startswith(
        f"the object store (s3://never-up at {dead}) did not answer: 3 runs over "
    ), failed.error
    assert "last error: cannot use bucket" in failed.error and "unreachable" in failed.error
    # Settled for good.
    assert recover(instance, state, time.time() + 3600, health, policy).retries == []


def test_a_build_error_fails_once_and_is_never_retried(
    instance: dg.DagsterInstance,
    state: PlatformState,
    tmp_path: Path,
    local_store_root: Path,
) -> None:
    store = LocalObjectStore(local_store_root)
    object_store = ObjectStoreResource(url=local_store_root.as_uri())
    resources = run_resources(
        state.where(),
        state.prefix,
        object_store,
        build_runner=NodeBuildRunner(tool_cache_dir=str(TOOLCHAIN_CACHE)),
    )
    archive = tmp_path / "fail-build.tar.gz"
    pack_directory(APPS / "fail-build", archive)
    record = queue_upload(state, store, unique("fail-build"), archive)

    result = Deployer(instance, resources).run(record.id)

    assert not result.success
    failed = state.get(record.id)
    assert failed.status is Status.FAILED and failed.retrying is None
    assert failed.error is not None and 'Expected ";" but found "oops"' in failed.error
    evaluate_failure_sensor(instance, resources, result)
    tick = recover(instance, state, time.time() + 3600, health_checks(state, object_store))
    assert tick.retries == [] and tick.failed == []
    assert state.get(record.id) == failed
    assert len(runs_for_partition(instance, record.id)) == 1


SLOW_BUILD = (
    "node -e \"setTimeout(() => { const fs = require('fs'); fs.mkdirSync('dist'); "
    "fs.writeFileSync('dist/index.html', '<h1>built after the restart</h1>'); }, 15000)\""
)


def _slow_app(where: Path) -> Path:
    """An npm app whose build takes a while: the window in which `up` is killed."""
    where.mkdir()
    (where / "package.json").write_text(
        json.dumps({"name": "slow", "version": "1.0.0", "scripts": {"build": SLOW_BUILD}})
    )
    (where / "package-lock.json").write_text(
        json.dumps(
            {
                "name": "slow",
                "version": "1.0.0",
                "lockfileVersion": 3,
                "requires": True,
                "packages": {"": {"name": "slow", "version": "1.0.0"}},
            }
        )
    )
    return where


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kill_9_of_up_mid_build_the_deployment_ends_ready_after_the_restart(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    env = {"DP_TOOL_CACHE_DIR": str(TOOLCHAIN_CACHE), "DP_INFRA_RETRY_SECONDS": "10"}
    platform = start_platform(state_dir, extra_env=env)
    try:
        archive = tmp_path / "slow.tar.gz"
        pack_directory(_slow_app(tmp_path / "slow"), archive)
        request = urllib.request.Request(
            f"{platform.api_url}/api/deployments?project=slow",
            data=archive.read_bytes(),
            method="POST",
            headers={
                "Authorization": f"Bearer {platform.token}",
                "Content-Type": "application/gzip",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            deployment_id = json.loads(answer.read())["id"]
        eventually(
            lambda: (
                platform.api("GET", f"/api/deployments/{deployment_id}")[1]["status"] == "building"
            ),
            timeout=240,
            interval=0.2,
            message="the build started",
        )
        children = [platform.pid(name) for name in ("api", "daemon")]
        platform.process.kill()  # kill -9 of `up` itself, mid-build
        platform.process.wait()
        eventually(
            lambda: not any(_alive(pid) for pid in children),
            timeout=90,
            interval=0.2,
            message="up's children ended",
        )
    except BaseException:
        platform.stop()
        raise

    again = start_platform(state_dir, extra_env=env)
    instance = dg.DagsterInstance.from_config(str(state_dir / "dagster"))
    try:
        record = again.wait(deployment_id, timeout=480)
        assert record["status"] == "ready", (record, again.log("daemon"))
        assert record["error"] is None and record["retrying"] is None
        assert "failed" not in record["times"]  # one final state: never failed
        status, _headers, body = again.fetch("slow.localhost", "/")
        assert status == 200 and b"built after the restart" in body
        # The record is ready a moment before the run (its asset checks) ends.
        eventually(
            lambda: all(run.is_finished for run in runs_for_partition(instance, deployment_id)),
            timeout=120,
            interval=0.2,
            message="the runs ended",
        )
        runs = runs_for_partition(instance, deployment_id)
    finally:
        instance.dispose()
        again.stop()
    # The run `up` took down did not finish; another run of the deployment did.
    assert runs[0].status is dg.DagsterRunStatus.FAILURE, [(r.status, r.tags) for r in runs]
    assert runs[-1].status is dg.DagsterRunStatus.SUCCESS, [(r.status, r.tags) for r in runs]
