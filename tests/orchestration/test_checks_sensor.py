"""`deployment_checks_sensor` against a real Dagster instance: one checks run per
successful deploy run, none while a deploy run waits in the run queue."""

from __future__ import annotations

import time
import uuid

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.tags import PARTITION_TAG, PROJECT_TAG
from deploy_platform.orchestration.jobs.checks import CHECKS_JOB
from deploy_platform.orchestration.jobs.deploy import DEPLOY_JOB
from deploy_platform.orchestration.sensors import checks_sensor
from deploy_platform.orchestration.sensors.checks_sensor import (
    checks_tick,
    deployment_checks_sensor,
)


def add_run(
    instance: dg.DagsterInstance,
    status: dg.DagsterRunStatus = dg.DagsterRunStatus.STARTED,
    job_name: str = DEPLOY_JOB,
) -> dg.DagsterRun:
    """A run as the daemon stores it (a queued run names the code location it runs from)."""
    location = RegisteredCodeLocationOrigin("deploy_platform")
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job_name)
    run = dg.DagsterRun(
        job_name=job_name,
        run_id=str(uuid.uuid4()),
        status=status,
        tags={PARTITION_TAG: new_deployment_id(), PROJECT_TAG: "shop"},
        remote_job_origin=origin,
    )
    return instance.add_run(run)


def finish(instance: dg.DagsterInstance, run: dg.DagsterRun, status: dg.DagsterRunStatus) -> None:
    """End a run the way its worker does: an event that sets its status (and update time)."""
    event_type = {
        dg.DagsterRunStatus.SUCCESS: DagsterEventType.RUN_SUCCESS,
        dg.DagsterRunStatus.FAILURE: DagsterEventType.RUN_FAILURE,
        dg.DagsterRunStatus.STARTED: DagsterEventType.RUN_START,
    }[status]
    event = DagsterEvent(event_type_value=event_type.value, job_name=run.job_name)
    instance.report_dagster_event(event, run_id=run.run_id)
    assert instance.get_run_by_id(run.run_id).status is status  # type: ignore[union-attr]


def succeeded(instance: dg.DagsterInstance) -> dg.DagsterRun:
    run = add_run(instance)
    finish(instance, run, dg.DagsterRunStatus.SUCCESS)
    return run


def tick(
    instance: dg.DagsterInstance, cursor: str | None = None
) -> tuple[list[dg.RunRequest], str | None, str | None]:
    """Evaluate the sensor as the daemon does: its requests' run keys, new cursor, skip."""
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        data = deployment_checks_sensor.evaluate_tick(context)
    return list(data.run_requests or []), data.cursor, data.skip_message


def keys(requests: list[dg.RunRequest]) -> set[str]:
    return {request.run_key or "" for request in requests}


def test_a_successful_deploy_run_gets_one_checks_request(instance: dg.DagsterInstance) -> None:
    run = succeeded(instance)

    requests, cursor, _ = tick(instance)

    assert keys(requests) == {f"checks-of-{run.run_id}"}
    [request] = requests
    assert request.tags[PARTITION_TAG] == run.tags[PARTITION_TAG]
    assert request.tags[PROJECT_TAG] == "shop"
    assert request.tags["dagster/priority"] == "-1"
    assert deployment_checks_sensor.job_name == CHECKS_JOB
    assert cursor is not None
    assert float(cursor) == pytest.approx(time.time(), abs=60)


def test_checks_wait_while_a_deploy_run_is_queued(instance: dg.DagsterInstance) -> None:
    _, cursor, _ = tick(instance)  # the first tick sets where the sensor starts
    assert cursor is not None
    first = succeeded(instance)
    queued = add_run(instance, dg.DagsterRunStatus.QUEUED)
    # A checks run waiting in the queue does not hold the checks back.
    add_run(instance, dg.DagsterRunStatus.QUEUED, job_name=CHECKS_JOB)

    requests, after, skip = tick(instance, cursor)

    assert requests == []
    assert after == cursor  # not moved: the runs that succeeded meanwhile are read later
    assert skip == "checks wait for 1 queued deployment run"

    finish(instance, queued, dg.DagsterRunStatus.STARTED)
    _, _, skip = tick(instance, cursor)  # nothing waits any more
    assert skip is None
    finish(instance, queued, dg.DagsterRunStatus.SUCCESS)

    requests, after, _ = tick(instance, cursor)

    assert keys(requests) == {f"checks-of-{first.run_id}", f"checks-of-{queued.run_id}"}
    assert [r.run_key for r in requests][0] == f"checks-of-{first.run_id}"  # oldest first
    assert after is not None and float(after) > float(cursor)


def test_not_started_deploy_runs_hold_checks_back_too(instance: dg.DagsterInstance) -> None:
    succeeded(instance)
    add_run(instance, dg.DagsterRunStatus.NOT_STARTED)
    add_run(instance, dg.DagsterRunStatus.QUEUED)

    requests, _, skip = tick(instance)

    assert requests == []
    assert skip == "checks wait for 2 queued deployment runs"


def test_a_failed_deploy_run_gets_no_checks(instance: dg.DagsterInstance) -> None:
    failed = add_run(instance)
    finish(instance, failed, dg.DagsterRunStatus.FAILURE)
    checks = add_run(instance, job_name=CHECKS_JOB)
    finish(instance, checks, dg.DagsterRunStatus.SUCCESS)

    requests, _, skip = tick(instance)

    assert requests == []
    assert skip == "no deploy run succeeded since the last tick"


def test_a_second_tick_requests_nothing_new(instance: dg.DagsterInstance) -> None:
    run = succeeded(instance)
    first, cursor, _ = tick(instance)

    again, after, _ = tick(instance, cursor)

    # Runs within the lookback are read again, under the run keys the daemon already used.
    assert keys(again) <= keys(first) == {f"checks-of-{run.run_id}"}
    assert after == cursor

    later = succeeded(instance)
    requests, _, _ = tick(instance, cursor)
    assert keys(requests) - keys(first) == {f"checks-of-{later.run_id}"}


def test_a_fresh_cursor_skips_older_history(instance: dg.DagsterInstance) -> None:
    succeeded(instance)
    in_an_hour = time.time() + 3600

    # A new install (no cursor), or the old run-status sensor's JSON cursor.
    for cursor in (None, '{"record_id": 12, "update_timestamp": "2026-01-01"}'):
        result = checks_tick(instance, cursor, in_an_hour)
        assert isinstance(result, dg.SensorResult)
        assert not result.run_requests
        assert result.cursor == repr(in_an_hour - checks_sensor.FRESH_START_SECONDS)

    # Within the fresh start's reach, the run is checked.
    result = checks_tick(instance, None, time.time())
    assert isinstance(result, dg.SensorResult) and len(result.run_requests or []) == 1


def test_a_full_read_inside_the_lookback_still_moves_on(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks_sensor, "MAX_RUNS_PER_TICK", 2)
    runs = [succeeded(instance) for _ in range(3)]

    first, cursor, _ = tick(instance)
    second, _, _ = tick(instance, cursor)

    assert keys(first) == {f"checks-of-{run.run_id}" for run in runs[:2]}
    assert keys(second) == {f"checks-of-{runs[2].run_id}"}
