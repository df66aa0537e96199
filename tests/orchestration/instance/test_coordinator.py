"""When a sensor's run may skip the run queue: the queue's own limits, read the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster import DagsterRun, DagsterRunStatus
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.run_coordinator import SubmitRunContext

from deploy_platform.orchestration.instance.coordinator import (
    LaunchOnSubmitCoordinator,
    fits_limits,
)
from deploy_platform.orchestration.instance.home import write_dagster_home
from tests.orchestration.instance import recording_launcher

PER_PROJECT = [{"key": "deploy/project", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]


def _run(project: str, **tags: str) -> DagsterRun:
    return DagsterRun(job_name="deploy", tags={"deploy/project": project, **tags})


def test_a_run_fits_while_slots_are_free_and_not_once_they_are_taken() -> None:
    assert fits_limits(_run("a"), [], 2, [])
    assert fits_limits(_run("a"), [_run("b")], 2, [])
    assert not fits_limits(_run("a"), [_run("b"), _run("c")], 2, [])
    assert fits_limits(_run("a"), [_run("b")] * 50, -1, [])  # -1: no overall limit


def test_the_per_project_limit_counts_only_runs_of_the_same_project() -> None:
    assert fits_limits(_run("a"), [_run("b"), _run("c")], 4, PER_PROJECT)
    assert not fits_limits(_run("a"), [_run("b"), _run("a")], 4, PER_PROJECT)


def test_a_limit_on_one_tag_value_applies_to_that_value_only() -> None:
    rule = [{"key": "deploy/environment", "value": "production", "limit": 1}]
    production = _run("a", **{"deploy/environment": "production"})
    preview = _run("b", **{"deploy/environment": "preview"})
    assert not fits_limits(production, [_run("c", **{"deploy/environment": "production"})], 4, rule)
    assert fits_limits(preview, [_run("c", **{"deploy/environment": "production"})], 4, rule)
    assert fits_limits(production, [preview], 4, rule)


def test_a_limit_on_a_key_counts_every_run_carrying_it() -> None:
    rule = [{"key": "deploy/project", "limit": 2}]
    assert fits_limits(_run("a"), [_run("b")], 4, rule)
    assert not fits_limits(_run("a"), [_run("b"), _run("c")], 4, rule)
    assert fits_limits(DagsterRun(job_name="retention"), [_run("b"), _run("c")], 4, rule)


# The run queue itself, on a real instance whose launcher only records launches.

_LAUNCHER = {
    "module": "tests.orchestration.instance.recording_launcher",
    "class": "RecordingLauncher",
}


@pytest.fixture
def queue_instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster"
    write_dagster_home(home, max_concurrent_runs=2, builds_per_project=1, run_launcher=_LAUNCHER)
    instance = dg.DagsterInstance.from_config(str(home))
    recording_launcher.LAUNCHED.clear()
    try:
        yield instance
    finally:
        instance.dispose()


def _add(
    instance: dg.DagsterInstance,
    status: DagsterRunStatus,
    project: str,
    priority: int = 0,
    sensor: bool = False,
) -> DagsterRun:
    tags = {"deploy/project": project, "dagster/priority": str(priority)}
    if sensor:
        tags["dagster/sensor_name"] = "deployment_queue_sensor"
    # As the daemon stores it: a queued run names the code location it runs from.
    location = RegisteredCodeLocationOrigin("deploy_platform")
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), "deploy")
    run = DagsterRun(job_name="deploy", status=status, tags=tags, remote_job_origin=origin)
    return instance.add_run(run)


def _status(instance: dg.DagsterInstance, run: DagsterRun) -> DagsterRunStatus:
    current = instance.get_run_by_id(run.run_id)
    assert current is not None
    return current.status


def test_a_freed_slot_goes_to_queued_runs_by_priority_then_age_within_the_limits(
    queue_instance: dg.DagsterInstance,
) -> None:
    coordinator = queue_instance.run_coordinator
    assert isinstance(coordinator, LaunchOnSubmitCoordinator)
    busy = _add(queue_instance, DagsterRunStatus.STARTED, "a")
    older_a = _add(queue_instance, DagsterRunStatus.QUEUED, "a")  # its project is busy
    checks = _add(queue_instance, DagsterRunStatus.QUEUED, "b", priority=-1)
    deploy_c = _add(queue_instance, DagsterRunStatus.QUEUED, "c")

    # One slot of two is free: the deploy of c goes ahead of the older, lower-priority run.
    assert coordinator.launch_queued() == 1
    assert recording_launcher.LAUNCHED == [deploy_c.run_id]
    assert _status(queue_instance, deploy_c) is DagsterRunStatus.STARTING
    assert _status(queue_instance, older_a) is DagsterRunStatus.QUEUED
    assert _status(queue_instance, checks) is DagsterRunStatus.QUEUED

    # Both slots are taken now: nothing starts.
    assert coordinator.launch_queued() == 0

    # a's run ends: one slot, and a's project is free again; a's run is the older one.
    queue_instance.report_run_failed(busy)
    assert coordinator.launch_queued() == 1
    assert recording_launcher.LAUNCHED == [deploy_c.run_id, older_a.run_id]
    assert _status(queue_instance, checks) is DagsterRunStatus.QUEUED


def test_a_sensors_run_starts_on_submit_only_when_nothing_is_queued_and_it_fits(
    queue_instance: dg.DagsterInstance,
) -> None:
    coordinator = queue_instance.run_coordinator
    assert isinstance(coordinator, LaunchOnSubmitCoordinator)

    first = _add(queue_instance, DagsterRunStatus.NOT_STARTED, "a", sensor=True)
    coordinator.submit_run(SubmitRunContext(first, workspace=None))  # type: ignore[arg-type]
    assert recording_launcher.LAUNCHED == [first.run_id]
    assert _status(queue_instance, first) is DagsterRunStatus.STARTING

    # Same project: its limit (one build) holds the second in the queue.
    second = _add(queue_instance, DagsterRunStatus.NOT_STARTED, "a", sensor=True)
    coordinator.submit_run(SubmitRunContext(second, workspace=None))  # type: ignore[arg-type]
    assert _status(queue_instance, second) is DagsterRunStatus.QUEUED

    # Another project would fit, but a run waits in the queue: the queue keeps its order.
    third = _add(queue_instance, DagsterRunStatus.NOT_STARTED, "b", sensor=True)
    coordinator.submit_run(SubmitRunContext(third, workspace=None))  # type: ignore[arg-type]
    assert _status(queue_instance, third) is DagsterRunStatus.QUEUED

    # A run started in the UI (no sensor tag) always goes through the queue.
    ui_run = _add(queue_instance, DagsterRunStatus.NOT_STARTED, "c")
    coordinator.submit_run(SubmitRunContext(ui_run, workspace=None))  # type: ignore[arg-type]
    assert _status(queue_instance, ui_run) is DagsterRunStatus.QUEUED
    assert recording_launcher.LAUNCHED == [first.run_id]
