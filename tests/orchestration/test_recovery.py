"""No deployment stays unfinished because its run's end went unseen: the recovery sensor,
and the failure sensor waiting for Dagster's retry decision.

Runs are real runs of the deploy job on a real instance with run retries on. A
worker crash cannot happen inside the test process, so where a test needs one the
run that failed is tagged as Dagster tags a crashed run (`dagster/will_retry`);
tests/orchestration/test_daemon.py crashes a real run worker under the real daemon.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from deploy_platform.contracts.records import Status
from deploy_platform.orchestration.jobs.deploy import DEPLOY_JOB, deploy_job
from deploy_platform.orchestration.sensors import failure_sensor
from deploy_platform.orchestration.sensors.recovery_sensor import (
    GRACE_SECONDS,
    RETRY_OF_TAG,
    deployment_recovery_sensor,
    recover,
)
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import ASSETS, Deployer, pack_site, queue_upload, unique
from tests.orchestration.test_sensors import BrokenBuildRunner, evaluate_failure_sensor

MAX_RETRIES = 2


RETRIES = {
    "run_retries": {
        "enabled": True,
        "max_retries": MAX_RETRIES,
        "retry_on_asset_or_op_failure": False,
    }
}


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """As `deploy-platform up` configures it: crashed runs are retried twice."""
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster"), overrides=RETRIES) as home:
        yield home


@pytest.fixture
def undecided(tmp_path: Path, instance: dg.DagsterInstance) -> Iterator[dg.DagsterInstance]:
    """The same storage seen by a process without run retries: the runs it fails carry no
    retry decision, as a run does between its failure event and Dagster's tag."""
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as home:
        yield home


def later() -> float:
    """A moment when the grace for Dagster's own retry has passed."""
    return time.time() + GRACE_SECONDS + 1


def failed_run(
    instance: dg.DagsterInstance, resources: dict[str, Any], deployment_id: str
) -> dg.DagsterRun:
    result = Deployer(instance, {**resources, "build_runner": BrokenBuildRunner()}).run(
        deployment_id
    )
    assert not result.success
    return result.dagster_run


def crashed_run(
    instance: dg.DagsterInstance, resources: dict[str, Any], deployment_id: str
) -> dg.DagsterRun:
    """A failed run with the decision Dagster records for a run whose worker died."""
    run = failed_run(instance, resources, deployment_id)
    instance.add_run_tags(run.run_id, {"dagster/will_retry": "true"})
    return run


def new_deployment(state: PlatformState, store: ObjectStore, tmp_path: Path) -> str:
    site = pack_site(tmp_path, {"index.html": "<h1>back</h1>"})
    return queue_upload(state, store, unique("recover"), site).id


def test_a_crash_dagster_did_not_retry_is_started_again_and_the_deployment_completes(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    deployment_id = new_deployment(state, store, tmp_path)
    crashed = crashed_run(instance, resources, deployment_id)

    tick = recover(instance, state, later())

    [request] = tick.retries
    assert request.partition_key == deployment_id
    assert request.run_key == f"retry-of-{crashed.run_id}"
    assert request.tags[RETRY_OF_TAG] == crashed.run_id
    # The crashed run's own labels, so it goes live the way the crashed run would have.
    assert request.tags["deploy/project"] == crashed.tags["deploy/project"]
    assert request.tags["deploy/trigger"] == crashed.tags["deploy/trigger"]
    assert not tick.failed
    assert state.get(deployment_id).status not in (Status.READY, Status.FAILED)

    retried = Deployer(instance, resources).run(deployment_id, extra_tags=dict(request.tags))
    assert retried.success
    assert state.get(deployment_id).status is Status.READY
    # Settled: nothing more to do for it.
    assert recover(instance, state, later()).retries == []


def test_nothing_is_done_while_dagster_may_still_retry(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    deployment_id = new_deployment(state, store, tmp_path)
    crashed_run(instance, resources, deployment_id)
    before = state.get(deployment_id)

    tick = recover(instance, state, time.time())

    assert tick.retries == [] and tick.failed == []
    assert state.get(deployment_id) == before


def test_crashes_beyond_max_retries_fail_the_deployment(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    deployment_id = new_deployment(state, store, tmp_path)
    for _ in range(MAX_RETRIES + 1):
        crashed_run(instance, resources, deployment_id)

    tick = recover(instance, state, later())

    assert tick.retries == []
    [(failed, cause)] = tick.failed
    record = state.get(deployment_id)
    assert record.status is Status.FAILED
    assert record.error is not None
    assert f"the run worker died {MAX_RETRIES + 1} times" in record.error
    assert "build sandbox unavailable" in record.error
    assert failed == record and "died" in cause


def test_a_run_dagster_gave_up_retrying_fails_the_deployment_with_its_error(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    deployment_id = new_deployment(state, store, tmp_path)
    run = crashed_run(instance, resources, deployment_id)
    # What Dagster's retry daemon writes when starting the retry raised.
    instance.add_run_tags(run.run_id, {"dagster/will_retry": "false"})

    tick = recover(instance, state, later())

    assert tick.retries == []
    record = state.get(deployment_id)
    assert record.status is Status.FAILED
    assert record.error is not None and "build sandbox unavailable" in record.error
    assert record.error.startswith(f"run {run.run_id[:8]} failed")


def test_a_canceled_run_fails_its_deployment(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    deployment_id = new_deployment(state, store, tmp_path)
    job = dg.Definitions(assets=ASSETS, jobs=[deploy_job], resources=resources).resolve_job_def(
        DEPLOY_JOB
    )
    # A run someone canceled in the UI before it started.
    run = instance.create_run_for_job(
        job, status=dg.DagsterRunStatus.NOT_STARTED, tags={"dagster/partition": deployment_id}
    )
    instance.report_run_canceled(run)
    assert instance.get_run_by_id(run.run_id).status is dg.DagsterRunStatus.CANCELED
    assert state.get(deployment_id).status not in (Status.READY, Status.FAILED)

    recover(instance, state, later())

    record = state.get(deployment_id)
    assert record.status is Status.FAILED
    assert record.error == f"run {run.run_id[:8]} was canceled"


def test_finished_deployments_are_left_alone(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    deployment_id = new_deployment(state, store, tmp_path)
    crashed_run(instance, resources, deployment_id)
    assert Deployer(instance, resources).run(deployment_id).success  # a later run won

    tick = recover(instance, state, later())

    assert tick.retries == [] and tick.failed == []
    assert state.get(deployment_id).status is Status.READY


def test_the_sensor_submits_the_retry_through_the_deploy_job(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    deployment_id = new_deployment(state, store, tmp_path)
    crashed_run(instance, resources, deployment_id)
    with dg.build_sensor_context(
        instance=instance,
        resources={name: resources[name] for name in ("redis", "commit_status", "object_store")},
    ) as context:
        result = deployment_recovery_sensor(context)

    # Within the grace period the real sensor skips, saying why.
    assert isinstance(result, dg.SkipReason)
    assert "1 unfinished deployment" in (result.skip_message or "")
    assert deployment_recovery_sensor.job_name == "deploy"


def test_the_failure_sensor_waits_for_dagsters_retry_decision(
    instance: dg.DagsterInstance,
    undecided: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    deployment_id = new_deployment(state, store, tmp_path)
    result = Deployer(undecided, {**resources, "build_runner": BrokenBuildRunner()}).run(
        deployment_id
    )
    run_id = result.run_id
    assert "dagster/will_retry" not in result.dagster_run.tags
    before = state.get(deployment_id)

    def decide_soon() -> None:
        time.sleep(1.0)
        instance.add_run_tags(run_id, {"dagster/will_retry": "true"})

    thread = threading.Thread(target=decide_soon)
    thread.start()
    evaluate_failure_sensor(instance, resources, result)
    thread.join()

    assert state.get(deployment_id).status is before.status
    assert state.get(deployment_id).error is None


def test_without_a_retry_decision_the_failure_sensor_leaves_it_to_recovery(
    instance: dg.DagsterInstance,
    undecided: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failure_sensor, "RETRY_DECISION_SECONDS", 0.5)
    deployment_id = new_deployment(state, store, tmp_path)
    result = Deployer(undecided, {**resources, "build_runner": BrokenBuildRunner()}).run(
        deployment_id
    )
    before = state.get(deployment_id)

    evaluate_failure_sensor(instance, resources, result)

    assert state.get(deployment_id).status is before.status
    # ... and the recovery sensor settles it once the grace has passed.
    recover(instance, state, later())
    assert state.get(deployment_id).status is Status.FAILED
