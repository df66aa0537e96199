"""The sensors cost (almost) nothing while nothing happens, and still answer at once.

Real Redis and a real Dagster instance: the wait sensor's long tick, the queue
lanes' long poll, the one instance the code server's ticks share, and the commit
status sensor stopped without a token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import dagster as dg
import pytest

from deploy_platform.contracts.records import SourceKind
from deploy_platform.orchestration.sensors import queue_sensor, wait_sensor
from deploy_platform.orchestration.sensors.commit_status_sensor import build_commit_status_sensor
from deploy_platform.orchestration.sensors.queue_sensor import (
    QUEUE_LANES,
    build_queue_sensor,
    collect_queued,
    lane_budget,
)
from deploy_platform.orchestration.sensors.shared_instance import shared_instance
from deploy_platform.orchestration.sensors.wait_sensor import (
    WaitTick,
    build_wait_sensor,
    watch_waiting,
)
from deploy_platform.storage.redis_state import STREAM_START, PlatformState
from tests.orchestration.support import make_record, unique
from tests.orchestration.test_wait_sensor import add_run
from tests.support.waiting import eventually


def in_background(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out


def test_an_idle_wait_tick_reads_the_runs_once_and_ends_with_its_budget(
    instance: dg.DagsterInstance, state: PlatformState
) -> None:
    state.enqueue(
        make_record(project=unique("old"), source=SourceKind.UPLOAD).id
    )  # an old entry wakes nothing
    started = time.monotonic()

    tick = watch_waiting(instance, state, budget_seconds=2.0)

    took = time.monotonic() - started
    assert 1.9 <= took < 4.0, took
    # One run query at the start, then only Redis blocking for a new queue entry.
    assert tick == WaitTick(reads=1, waiting=0, noted=0, entries=0)


def test_a_deployment_queued_during_a_wait_tick_gets_its_sentence_within_two_seconds(
    instance: dg.DagsterInstance, state: PlatformState
) -> None:
    thread, out = in_background(lambda: watch_waiting(instance, state, budget_seconds=8.0))
    time.sleep(1.0)  # the tick is blocked on the queue stream by now
    project = unique("late")
    record = make_record(project=project, source=SourceKind.UPLOAD)
    state.create(record)
    state.enqueue(record.id)
    # What the queue lane and the daemon do next: the run, queued in Dagster.
    time.sleep(0.3)
    add_run(instance, record.id, project, dg.DagsterRunStatus.QUEUED)
    added = time.monotonic()

    eventually(
        lambda: state.get(record.id).waiting,
        timeout=10,
        interval=0.05,
        message="the wait sensor never noted the new deployment",
    )
    noted_after = time.monotonic() - added
    assert noted_after < 2.0, noted_after
    assert state.get(record.id).waiting.startswith("in the run queue, about to be launched")
    thread.join(timeout=15)
    assert not thread.is_alive()
    [tick] = out
    # While the run waited the sensor looked every ~1.5 s; then the budget ended it.
    assert tick.entries == 1 and tick.waiting == 1 and tick.noted == 1
    assert 3 <= tick.reads <= 8, tick


def test_the_wait_sensor_tick_returns_after_its_budget(
    instance: dg.DagsterInstance, resources: dict[str, Any]
) -> None:
    sensor = build_wait_sensor(budget_seconds=1.0)
    started = time.monotonic()
    with dg.build_sensor_context(
        instance=instance, resources={"redis": resources["redis"]}
    ) as context:
        result = sensor(context)
    assert 0.9 <= time.monotonic() - started < 3.0
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "no deployment run waiting to start (0 queued meanwhile)"


def test_lane_budgets_end_just_before_a_daemon_wake_up_and_apart() -> None:
    budgets = [lane_budget(lane) for lane in range(QUEUE_LANES)]
    assert budgets == [89.5, 94.5, 99.5]
    for budget in budgets:
        # Over at least half a second before a 5 s wake-up: the next tick starts
        # there, not one loop later ...
        assert 5 - budget % 5 >= 0.5
    # ... each lane at a wake-up of its own ...
    assert len({budget // 5 for budget in budgets}) == len(budgets)
    # ... and well under the evaluation timeout `up` gives the daemon (180 s).
    assert max(budgets) < 120


def test_a_long_poll_spans_several_blocking_pieces_and_notes_the_tick_each_time(
    state: PlatformState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_sensor, "BLOCK_PIECE_SECONDS", 0.5)
    listened: list[float] = []
    record = make_record(project=unique("piece"), source=SourceKind.UPLOAD)
    state.create(record)

    def enqueue_late() -> None:
        time.sleep(1.7)
        state.enqueue(record.id)

    threading.Thread(target=enqueue_late, daemon=True).start()
    batch = collect_queued(
        state,
        STREAM_START,
        poll_seconds=10.0,
        log=lambda _line: None,
        listening=lambda: listened.append(time.monotonic()),
    )

    assert [r.id for r in batch.records] == [record.id]
    # Blocked in 0.5 s pieces until the entry came, a note before each.
    assert 3 <= len(listened) <= 5, listened


def test_a_queue_lane_keeps_noting_its_tick_while_it_long_polls(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queue_sensor, "BLOCK_PIECE_SECONDS", 0.5)
    lane = build_queue_sensor(0, budget_seconds=2.0)

    def tick() -> Any:
        with dg.build_sensor_context(
            instance=instance, resources={"redis": resources["redis"]}
        ) as context:
            return lane(context)

    thread, out = in_background(tick)
    time.sleep(0.2)
    first = state.last_queue_tick()
    assert first is not None
    time.sleep(1.2)
    later = state.last_queue_tick()
    assert later is not None and later > first  # alive for the API mid-tick
    thread.join(timeout=10)
    [result] = out
    assert isinstance(result, dg.SensorResult) and not result.run_requests


def test_every_tick_shares_one_instance_per_ref(instance: dg.DagsterInstance) -> None:
    ref = instance.get_ref()
    contexts = [dg.SensorEvaluationContext(instance_ref=ref) for _ in range(8)]
    got: list[dg.DagsterInstance] = []
    lock = threading.Lock()

    def first_ticks(context: dg.SensorEvaluationContext) -> None:
        shared = shared_instance(context)
        with lock:
            got.append(shared)

    threads = [threading.Thread(target=first_ticks, args=(c,)) for c in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(got) == 8 and all(shared is got[0] for shared in got)
    # A later tick, in a context of its own, gets the same one; it reads the same runs.
    later = shared_instance(dg.SensorEvaluationContext(instance_ref=ref))
    assert later is got[0] and later is not instance
    seen = make_record(project=unique("seen"), source=SourceKind.UPLOAD)
    add_run(instance, seen.id, seen.project, dg.DagsterRunStatus.QUEUED)
    assert len(later.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))) == 1


def test_a_context_built_with_an_instance_gets_that_instance(
    instance: dg.DagsterInstance,
) -> None:
    with dg.build_sensor_context(instance=instance) as context:
        assert shared_instance(context) is instance


def test_commit_statuses_are_stopped_without_a_token() -> None:
    off = build_commit_status_sensor({"DP_GITHUB_TOKEN": ""})
    on = build_commit_status_sensor({"DP_GITHUB_TOKEN": "ghp-example"})

    assert off.default_status is dg.DefaultSensorStatus.STOPPED
    assert off.description and "DP_GITHUB_TOKEN" in off.description
    assert "restart `deploy-platform up`" in off.description
    assert on.default_status is dg.DefaultSensorStatus.RUNNING
    assert on.description and "Stopped" not in on.description
    assert off.minimum_interval_seconds == on.minimum_interval_seconds == 15


def test_the_wait_sensor_is_named_as_before() -> None:
    assert wait_sensor.deployment_wait_sensor.name == "deployment_wait_sensor"
