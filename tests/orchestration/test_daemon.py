"""The real `dagster-daemon` over the DAGSTER_HOME `up` writes: queue -> sensor -> run -> ready.

Also shows the exactly-once half of the queue contract through the daemon itself:
when the sensor's cursor goes back (as if a tick died before its cursor was
stored) and it requests a deployment again, the daemon finds the run with that
run_key and starts no second one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.records import TERMINAL, DeploymentRecord, Status
from deploy_platform.orchestration.instance.home import write_dagster_home
from deploy_platform.orchestration.instance.storage import prepare_storage
from deploy_platform.orchestration.sensors.queue_sensor import QUEUE_LANES, lane_name
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import STREAM_START, PlatformState
from tests.orchestration.support import pack_site, queue_upload, unique
from tests.support.environment import child_env, code_location_env
from tests.support.waiting import eventually, until

pytestmark = pytest.mark.slow

_BIN = Path(sys.executable).parent
_WAIT_SECONDS = 240  # generous: a cold daemon and run worker on a busy 2-core machine


@pytest.fixture
def dagster_env(
    tmp_path: Path, redis_server: RedisServer, state: PlatformState, local_store_root: Path
) -> dict[str, str]:
    home = tmp_path / "dagster"
    write_dagster_home(home, max_concurrent_runs=2)
    env = child_env(
        DAGSTER_HOME=str(home),
        **code_location_env(redis_server.url, state.prefix, local_store_root.as_uri()),
    )
    prepare_storage(env, home)  # as `up` does before its processes open the instance
    return env


@contextmanager
def running_daemon(
    env: dict[str, str], log: Path, workspace: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    workspace = workspace or Path(env["DAGSTER_HOME"]) / "workspace.yaml"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(_BIN / "dagster-daemon"), "run", "-w", str(workspace)],
            cwd=env["DAGSTER_HOME"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its code server and run workers share the group
        )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(state: PlatformState, deployment_id: str, log: Path) -> DeploymentRecord:
    return until(
        lambda: state.get(deployment_id),
        lambda record: record.status in TERMINAL,
        timeout=_WAIT_SECONDS,
        interval=0.2,
        message=lambda record: (
            f"{deployment_id} still {record.status}; "
            f"daemon log without sensor ticks:\n{_log_without_ticks(log)}"
        ),
    )


def _log_without_ticks(log: Path) -> str:
    """The daemon's log minus the sensor daemon's every-second lines, which hide the cause."""
    lines = [line for line in log.read_text().splitlines() if "SensorDaemon" not in line]
    return "\n".join(lines)[-12000:]


def runs_for(instance: dg.DagsterInstance, deployment_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": deployment_id})))


def wait_for_run_end(env: dict[str, str], deployment_id: str, log: Path) -> None:
    """The record is ready a moment before the run worker reports success: let it finish."""
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])

    def finished() -> bool:
        # Every run of the partition: a retry has its own run_key, or none.
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": deployment_id}))
        return bool(runs) and all(run.is_finished for run in runs)

    try:
        eventually(
            finished,
            timeout=_WAIT_SECONDS,
            interval=0.2,
            message=lambda: (
                f"the run for {deployment_id} did not finish; log:\n{_log_without_ticks(log)}"
            ),
        )
    finally:
        instance.dispose()


def test_daemon_runs_each_queued_deployment_once(
    dagster_env: dict[str, str], tmp_path: Path, state: PlatformState, store: ObjectStore
) -> None:
    log = tmp_path / "daemon.log"
    project = unique("daemon")
    first = queue_upload(state, store, project, pack_site(tmp_path, {"index.html": "one"}))
    state.enqueue(first.id)
    state.enqueue(first.id)  # the API retried: one run all the same
    state.enqueue(new_deployment_id())  # no record: skipped

    with running_daemon(dagster_env, log):
        assert wait_for(state, first.id, log).status is Status.READY
        wait_for_run_end(dagster_env, first.id, log)

    # As if the tick that handled `first` had died before storing its cursor, with
    # the record not yet moving: the sensor reads the stream from the start again.
    state.update(first.id, lambda r: r.with_status(Status.QUEUED))
    # Every lane: the one that claimed `first` is the one that requests it again.
    for lane in range(QUEUE_LANES):
        reset = subprocess.run(
            [
                str(_BIN / "dagster"),
                "sensor",
                "cursor",
                lane_name(lane),
                "--set",
                STREAM_START,
                "-w",
                str(Path(dagster_env["DAGSTER_HOME"]) / "workspace.yaml"),
            ],
            env=dagster_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert reset.returncode == 0, reset.stdout + reset.stderr
    second = queue_upload(state, store, project, pack_site(tmp_path, {"index.html": "two"}))
    state.enqueue(second.id)

    with running_daemon(dagster_env, log):
        # `second` comes after `first` in the stream: once it is done, `first` was re-read.
        assert wait_for(state, second.id, log).status is Status.READY
        wait_for_run_end(dagster_env, second.id, log)

    instance = dg.DagsterInstance.from_config(dagster_env["DAGSTER_HOME"])
    try:
        [first_run] = runs_for(instance, first.id)
        [second_run] = runs_for(instance, second.id)
        assert first_run.status is dg.DagsterRunStatus.SUCCESS
        assert first_run.job_name == "deploy"
        assert first_run.tags["dagster/partition"] == first.id
        assert first_run.tags["deploy/project"] == project
        assert second_run.status is dg.DagsterRunStatus.SUCCESS
        assert set(instance.get_dynamic_partitions("deployments")) == {first.id, second.id}
    finally:
        instance.dispose()
    # The sensor did request `first` again and the daemon skipped it by its run_key ...
    assert f'already completed with run keys: ["{first.id}"]' in log.read_text()
    # ... so no second run touched it: the record is still where the test left it.
    assert state.get(first.id).status is Status.QUEUED
    assert state.get_alias(project) == second.id


def runs_for_partition(instance: dg.DagsterInstance, deployment_id: str) -> list[dg.DagsterRun]:
    """The deploy runs, oldest first (not the checks run a successful one is followed by)."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={"dagster/partition": deployment_id})
    )
    ordered = sorted(records, key=lambda r: r.create_timestamp)
    return [record.dagster_run for record in ordered if record.dagster_run.job_name == "deploy"]


def test_a_run_worker_that_dies_mid_build_is_retried_and_the_deployment_completes(
    dagster_env: dict[str, str], tmp_path: Path, state: PlatformState, store: ObjectStore
) -> None:
    log = tmp_path / "daemon.log"
    marker = tmp_path / "crashed"
    workspace = tmp_path / "crashing-workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_file:\n"
        f"      relative_path: {Path(__file__).with_name('crashing_location.py')}\n"
        f"      working_directory: {Path(__file__).resolve().parents[2]}\n"
        "      location_name: crashing\n"
    )
    env = {**dagster_env, "DP_TEST_CRASH_MARKER": str(marker)}
    project = unique("crash")
    record = queue_upload(state, store, project, pack_site(tmp_path, {"index.html": "ok"}))
    state.enqueue(record.id)

    with running_daemon(env, log, workspace):
        done = wait_for(state, record.id, log)
        wait_for_run_end(env, record.id, log)

    assert marker.exists(), "the build never crashed: the test proved nothing"
    assert done.status is Status.READY, done.error
    assert state.get_alias(project) == record.id
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        crashed, retried = runs_for_partition(instance, record.id)
    finally:
        instance.dispose()
    assert crashed.status is dg.DagsterRunStatus.FAILURE
    assert crashed.tags["dagster/will_retry"] == "true"
    assert retried.status is dg.DagsterRunStatus.SUCCESS
    # Dagster's retry (a re-execution of the crashed run), or, when Dagster's retry
    # daemon dropped it, the one deployment_recovery_sensor starts.
    assert (
        retried.parent_run_id == crashed.run_id
        or retried.tags.get("deploy/retry_of") == crashed.run_id
    ), retried.tags
