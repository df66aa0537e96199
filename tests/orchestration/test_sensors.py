"""The queue sensor and the run-failure sensor, evaluated for real against Redis and Dagster."""

from __future__ import annotations

import threading
import time
from typing import Any

import dagster as dg

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.records import SourceKind, Status
from deploy_platform.orchestration.resources.build_runner import StaticBuildRunner
from deploy_platform.orchestration.sensors.failure_sensor import deployment_failure_sensor
from deploy_platform.orchestration.sensors.queue_sensor import (
    build_queue_sensor,
    deployment_queue_sensor,
)
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, make_record, queue_git, unique


def evaluate(
    instance: dg.DagsterInstance, resources: dict[str, Any], cursor: str | None
) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"redis": resources["redis"]}
    ) as context:
        result = deployment_queue_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def enqueue_records(state: PlatformState, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        record = make_record(
            project=unique("docs"),
            source=SourceKind.GIT,
            repo_url="https://example.com/r.git",
            commit="a" * 40,
        )
        state.create(record)
        state.enqueue(record.id)
        ids.append(record.id)
    return ids


def requested(result: dg.SensorResult) -> list[str]:
    return [request.partition_key for request in result.run_requests or []]  # type: ignore[misc]


def test_one_run_request_per_queued_id_with_the_id_as_run_key_and_partition(
    instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    ids = enqueue_records(state, 3)
    state.enqueue(new_deployment_id())  # no record: skipped with a log line
    state.enqueue("not-an-id")
    last_entry = state.enqueue(ids[0])  # enqueued twice: one request

    result = evaluate(instance, resources, cursor=None)

    assert requested(result) == ids
    for request, dep in zip(result.run_requests or [], ids, strict=True):
        assert isinstance(request, dg.RunRequest)
        assert request.run_key == dep
        record = state.get(dep)
        assert request.tags["deploy/project"] == record.project
        assert request.tags["deploy/commit"] == "a" * 40
        assert request.tags["deploy/ref"] == "main"
    [add] = result.dynamic_partitions_requests or []
    assert isinstance(add, dg.AddDynamicPartitionsRequest)
    assert add.partitions_def_name == "deployments"
    assert list(add.partition_keys) == ids
    assert result.cursor == last_entry


def test_a_stale_cursor_returns_the_same_ids_again(
    instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    ids = enqueue_records(state, 2)
    first = evaluate(instance, resources, cursor=None)
    later = enqueue_records(state, 1)

    # The tick's cursor was never stored (the daemon died): the same entries come back.
    again = evaluate(instance, resources, cursor=None)
    # With the stored cursor only what came after.
    after = evaluate(instance, resources, cursor=first.cursor)

    assert requested(first) == ids
    assert requested(again) == ids + later
    assert requested(after) == later


def test_finished_deployments_are_not_requested_again_from_a_fresh_cursor(
    instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    done, failed, waiting = enqueue_records(state, 3)
    state.set_status(done, Status.READY)
    state.set_status(failed, Status.FAILED, error="x")

    result = evaluate(instance, resources, cursor=None)

    assert requested(result) == [waiting]


def test_an_id_enqueued_during_the_tick_is_picked_up_by_that_tick(
    instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    [before] = enqueue_records(state, 1)
    cursor = evaluate(instance, resources, cursor=None).cursor
    record = make_record(project=unique("docs"), source=SourceKind.UPLOAD, ref=None)
    state.create(record)

    def enqueue_soon() -> None:
        time.sleep(0.5)
        state.enqueue(record.id)

    thread = threading.Thread(target=enqueue_soon)
    thread.start()
    result = evaluate(instance, resources, cursor=cursor)
    thread.join()

    assert requested(result) == [record.id]
    assert before not in requested(result)


class BrokenBuildRunner(StaticBuildRunner):
    """A build runner whose start-up fails: the run dies before the asset body can react."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        raise RuntimeError("build sandbox unavailable")


def evaluate_failure_sensor(
    instance: dg.DagsterInstance, resources: dict[str, Any], result: dg.ExecuteInProcessResult
) -> None:
    """Evaluate the run-failure sensor on a failed run, as the daemon does."""
    context = dg.build_run_status_sensor_context(
        sensor_name=deployment_failure_sensor.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"redis": resources["redis"], "commit_status": resources["commit_status"]},
    ).for_run_failure()
    with context:
        deployment_failure_sensor(context)


def test_failure_sensor_marks_a_deployment_whose_run_died_outside_the_assets(
    git_http, instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    repo = git_http.create_repo(unique("site"), {"index.html": "x"})
    record = queue_git(state, repo, unique("docs"))
    broken = Deployer(instance, {**resources, "build_runner": BrokenBuildRunner()})
    result = broken.run(record.id)
    assert not result.success
    assert state.get(record.id).status not in (Status.READY, Status.FAILED)

    evaluate_failure_sensor(instance, resources, result)

    failed = state.get(record.id)
    assert failed.status is Status.FAILED
    assert failed.error is not None and "build sandbox unavailable" in failed.error


def test_failure_sensor_keeps_the_assets_own_error(
    git_http, instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    repo = git_http.create_repo(unique("site"), {".env": "nothing to publish"})
    record = queue_git(state, repo, unique("docs"))
    result = Deployer(instance, resources).run(record.id)
    before = state.get(record.id)
    assert before.status is Status.FAILED

    evaluate_failure_sensor(instance, resources, result)

    assert state.get(record.id).error == before.error


def test_failure_sensor_leaves_a_run_that_dagster_will_retry(
    git_http, instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    repo = git_http.create_repo(unique("site"), {"index.html": "x"})
    record = queue_git(state, repo, unique("docs"))
    broken = Deployer(instance, {**resources, "build_runner": BrokenBuildRunner()})
    result = broken.run(record.id)
    # What the instance tags onto a crashed run when run retries are enabled.
    instance.add_run_tags(result.run_id, {"dagster/will_retry": "true"})
    before = state.get(record.id)

    evaluate_failure_sensor(instance, resources, result)

    assert state.get(record.id).status is before.status
    assert state.get(record.id).error is None


def test_lanes_split_the_queue_and_each_id_is_requested_by_one_lane_only(
    instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> None:
    """Guards exactly-once across the queue sensor's lanes (they all read the stream)."""
    # The lanes with a 1 s poll: a lane with nothing to start waits out its budget.
    first_lane, second_lane = (build_queue_sensor(lane, budget_seconds=1.0) for lane in (0, 1))

    def run(sensor: dg.SensorDefinition, cursor: str | None) -> dg.SensorResult:
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"redis": resources["redis"]}
        ) as context:
            result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    ids = enqueue_records(state, 2)
    taken = run(first_lane, None)
    assert requested(taken) == ids
    # The second lane reads the same entries, finds them claimed, and moves on.
    passed = run(second_lane, None)
    assert requested(passed) == [] and passed.cursor == taken.cursor
    # A new id goes to whichever lane is listening: here the second one.
    late = enqueue_records(state, 1)
    assert requested(run(second_lane, passed.cursor)) == late
    # The first lane's tick "died": re-read from its old cursor, it asks for its own
    # ids again (its run_key dedup applies) and never for the other lane's.
    assert requested(run(first_lane, None)) == ids
