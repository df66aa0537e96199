"""`deployment_wait_sensor` and the queue sensor write what a queued deployment waits for,
evaluated against a real Dagster instance with the run queue `deploy-platform up` configures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)

from deploy_platform.contracts.records import SourceKind, Status
from deploy_platform.contracts.tags import PARTITION_TAG, PROJECT_TAG
from deploy_platform.orchestration.instance.home import dagster_yaml
from deploy_platform.orchestration.jobs.deploy import DEPLOY_JOB
from deploy_platform.orchestration.sensors.queue_sensor import deployment_queue_sensor
from deploy_platform.orchestration.sensors.wait_sensor import (
    build_wait_sensor,
)
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import make_record, unique


@pytest.fixture
def queued_instance() -> Iterator[dg.DagsterInstance]:
    """An instance whose run queue is the one `up` writes: 2 builds, 1 per project."""
    config = yaml.safe_load(dagster_yaml(max_concurrent_runs=2, builds_per_project=1))
    with dg.instance_for_test(overrides={"run_coordinator": config["run_coordinator"]}) as inst:
        yield inst


def deployment(state: PlatformState, project: str, status: Status = Status.QUEUED) -> str:
    record = make_record(project=project, source=SourceKind.UPLOAD)
    state.create(record)
    if status is not Status.QUEUED:
        state.set_status(record.id, status)
    return record.id


def add_run(
    instance: dg.DagsterInstance, deployment_id: str, project: str, status: dg.DagsterRunStatus
) -> None:
    """A run as the daemon stores it (a queued run names the code location it runs from)."""
    location = RegisteredCodeLocationOrigin("deploy_platform")
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), DEPLOY_JOB)
    instance.add_run(
        dg.DagsterRun(
            job_name=DEPLOY_JOB,
            run_id=str(uuid.uuid4()),
            status=status,
            tags={PARTITION_TAG: deployment_id, PROJECT_TAG: project},
            remote_job_origin=origin,
        )
    )


# A tick that looks once and returns (the real one keeps looking for ~45 s).
one_look = build_wait_sensor(budget_seconds=0)


def tick(instance: dg.DagsterInstance, resources: dict[str, Any]) -> None:
    with dg.build_sensor_context(
        instance=instance, resources={"redis": resources["redis"]}
    ) as context:
        one_look(context)


def test_each_queued_deployment_says_which_limit_holds_it(
    queued_instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    busy, other, third = unique("busy"), unique("other"), unique("third")
    running = deployment(state, busy, Status.BUILDING)
    add_run(queued_instance, running, busy, dg.DagsterRunStatus.STARTED)
    same_project = deployment(state, busy)
    add_run(queued_instance, same_project, busy, dg.DagsterRunStatus.QUEUED)
    launched = deployment(state, other)
    add_run(queued_instance, launched, other, dg.DagsterRunStatus.STARTING)
    full = deployment(state, third)
    add_run(queued_instance, full, third, dg.DagsterRunStatus.QUEUED)

    tick(queued_instance, resources)

    assert state.get(same_project).waiting == (
        f"waiting for a build slot of project {busy}: 1 of its 1 build(s) running "
        "(DP_BUILDS_PER_PROJECT)"
    )
    assert state.get(full).waiting == (
        "waiting for a build slot: 2 of 2 builds running (DP_MAX_CONCURRENT_BUILDS)"
    )
    assert state.get(launched).waiting == "run launched; waiting for its worker process to start"
    # A deployment already building waits for nothing.
    assert state.get(running).waiting is None


def test_a_free_slot_says_the_run_is_about_to_launch_and_a_stage_clears_it(
    queued_instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    project = unique("site")
    waiting = deployment(state, project)
    add_run(queued_instance, waiting, project, dg.DagsterRunStatus.QUEUED)

    tick(queued_instance, resources)

    assert state.get(waiting).waiting == (
        "in the run queue, about to be launched (0 of 2 build slots in use)"
    )
    assert state.set_status(waiting, Status.CLONING).waiting is None


def test_the_queue_sensor_notes_its_tick_and_leaves_the_waiting_to_the_run(
    instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    record = make_record(project=unique("docs"), source=SourceKind.UPLOAD)
    state.create(record)
    state.enqueue(record.id)
    assert state.last_queue_tick() is None

    with dg.build_sensor_context(
        instance=instance, resources={"redis": resources["redis"]}
    ) as context:
        deployment_queue_sensor(context)

    assert state.last_queue_tick() is not None
    # Its answer may reach no daemon (the code server outlives a killed one): "run
    # requested" is said by the wait sensor once the run exists.
    assert state.get(record.id).waiting is None
