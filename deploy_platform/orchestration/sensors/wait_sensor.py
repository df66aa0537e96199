"""`deployment_wait_sensor`: a queued deployment's record says what it waits for.

Between "queued" and "cloning" a deployment passes through Dagster's hands: the
queue sensor requests its run (sensors/queue_sensor.py notes that on the record),
the run waits in the run queue for a build slot (the QueuedRunCoordinator's
`max_concurrent_runs`, and the per-project `deploy/project` tag limit; see
instance/home.py), is launched (STARTING: its worker process starts) and starts
(STARTED: the worker loads the pipeline before the first step). This sensor
reads the deployment runs that have not reached their first step and writes one
sentence per deployment into the record's `waiting`, which the API shows and
`deploy-platform deploy` prints instead of a bare "still queued".

Cost. One tick lasts up to `TICK_SECONDS` (just under a multiple of the sensor
daemon's 5 s loop, like the queue lanes: see queue_sensor.py) and loops: read the
waiting runs and note them; while there are some (or a deployment was just
queued, for `FOLLOW_SECONDS`: its run appears once a queue lane requested it),
read again every `BUSY_PAUSE_SECONDS`; while there are none, block on the Redis
queue stream (XREAD BLOCK after its newest entry, in pieces under the Redis
client's timeout) until a NEW entry arrives or the budget ends. An idle platform
so costs one tick per ~95 s and no run query in between, while a newly queued
deployment gets its sentence within ~2 s. A run that waits without a new queue
entry (a retry the recovery sensor or Dagster starts) is noted by the next tick
at the latest; such a deployment is rarely still `queued` anyway, and only a
queued record's `waiting` is written. The runs are read through the code
server's shared instance (shared_instance.py), not a new one per tick.
Before any of this, while the daemon starts or loads the code location, no sensor
runs: the API says so from the queue sensor's last tick (`deploy_platform.api.waiting`).
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from deploy_platform.contracts.records import DeploymentRecord, Status
from deploy_platform.contracts.tags import PARTITION_TAG, PROJECT_TAG
from deploy_platform.orchestration.jobs.deploy import DEPLOY_JOB
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.orchestration.sensors.shared_instance import shared_instance
from deploy_platform.storage.redis_state import PlatformState, UnknownDeployment

__all__ = [
    "RUN_REQUESTED",
    "deployment_wait_sensor",
    "build_wait_sensor",
    "watch_waiting",
    "WaitTick",
    "TICK_SECONDS",
    "BUSY_PAUSE_SECONDS",
    "FOLLOW_SECONDS",
    "BuildSlots",
    "build_slots",
    "waiting_text",
    "note_waiting",
]

_WAITING_RUNS = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# What the run queue counts against its limits (Dagster's IN_PROGRESS_RUN_STATUSES).
_IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
_MAX_RUNS_READ = 500
TICK_SECONDS = 94.5
BUSY_PAUSE_SECONDS = 1.5
FOLLOW_SECONDS = 10.0
# Under RedisResource.timeout_seconds (the socket timeout a blocked XREAD must beat).
_BLOCK_PIECE_SECONDS = 10.0
# Also what the queue sensor notes on the record when it requests the run.
RUN_REQUESTED = "run requested; waiting for Dagster to put it in the run queue"


@dataclass(frozen=True)
class BuildSlots:
    """The run queue's limits and what holds them: runs in progress, overall and by project."""

    running: int
    limit: int | None
    per_project: int | None
    running_by_project: Mapping[str, int]


def waiting_text(status: dg.DagsterRunStatus, project: str, slots: BuildSlots) -> str:
    """One sentence: what a deployment whose run is in `status` waits for."""
    if status is dg.DagsterRunStatus.NOT_STARTED:
        return RUN_REQUESTED
    if status is dg.DagsterRunStatus.STARTING:
        return "run launched; waiting for its worker process to start"
    if status is dg.DagsterRunStatus.STARTED:
        return "run started; its worker is loading the pipeline"
    mine = slots.running_by_project.get(project, 0)
    if slots.per_project is not None and mine >= slots.per_project:
        return (
            f"waiting for a build slot of project {project}: {mine} of its "
            f"{slots.per_project} build(s) running (DP_BUILDS_PER_PROJECT)"
        )
    if slots.limit is not None and slots.running >= slots.limit:
        return (
            f"waiting for a build slot: {slots.running} of {slots.limit} builds running "
            "(DP_MAX_CONCURRENT_BUILDS)"
        )
    in_use = f"{slots.running} of {slots.limit}" if slots.limit is not None else slots.running
    return f"in the run queue, about to be launched ({in_use} build slots in use)"


def build_slots(instance: dg.DagsterInstance) -> BuildSlots:
    """The run queue's limits from the instance's QueuedRunCoordinator (none with another)."""
    limit: int | None = None
    per_project: int | None = None
    coordinator = instance.run_coordinator
    config_of = getattr(coordinator, "get_run_queue_config", None)
    if config_of is not None:
        config = config_of()
        limit = config.max_concurrent_runs if config.max_concurrent_runs >= 0 else None
        for rule in config.tag_concurrency_limits or ():
            if rule.get("key") == PROJECT_TAG:
                per_project = int(rule["limit"])
    running = instance.get_run_records(dg.RunsFilter(statuses=_IN_PROGRESS), limit=_MAX_RUNS_READ)
    by_project: dict[str, int] = {}
    for record in running:
        project = record.dagster_run.tags.get(PROJECT_TAG)
        if project is not None:
            by_project[project] = by_project.get(project, 0) + 1
    return BuildSlots(len(running), limit, per_project, by_project)


def note_waiting(state: PlatformState, deployment_id: str, text: str) -> bool:
    """Set the record's `waiting` while it is queued; True when that changed it."""
    changed = False

    def change(record: DeploymentRecord) -> DeploymentRecord:
        nonlocal changed  # set by the attempt that counts (update retries on a conflict)
        changed = record.status is Status.QUEUED and record.waiting != text
        return record.replace(waiting=text) if changed else record

    try:
        state.update(deployment_id, change)
    except UnknownDeployment:
        return False
    return changed


def _waiting_runs(instance: dg.DagsterInstance) -> Sequence[dg.RunRecord]:
    return instance.get_run_records(
        dg.RunsFilter(job_name=DEPLOY_JOB, statuses=_WAITING_RUNS), limit=_MAX_RUNS_READ
    )


def _note_runs(
    instance: dg.DagsterInstance, state: PlatformState, runs: Sequence[dg.RunRecord]
) -> int:
    """Write each waiting run's sentence on its deployment; how many records changed."""
    slots = build_slots(instance)
    changed = 0
    for record in runs:
        run = record.dagster_run
        deployment_id = run.tags.get(PARTITION_TAG)
        if deployment_id is None:
            continue
        text = waiting_text(run.status, run.tags.get(PROJECT_TAG, ""), slots)
        changed += note_waiting(state, deployment_id, text)
    return changed


@dataclass
class WaitTick:
    """What one tick did: run reads, the most runs seen waiting at once, records noted."""

    reads: int = 0
    waiting: int = 0
    noted: int = 0
    entries: int = 0


def _next_entry(state: PlatformState, after: str, deadline: float) -> str | None:
    """Block until a queue entry after `after` arrives (its id) or `deadline` passes (None)."""
    while (remaining := deadline - time.monotonic()) > 0.05:
        piece = min(remaining, _BLOCK_PIECE_SECONDS)
        entries = state.read_queue(after, count=100, block_ms=max(1, int(piece * 1000)))
        if entries:
            return entries[-1][0]
    return None


def watch_waiting(
    instance: dg.DagsterInstance,
    state: PlatformState,
    budget_seconds: float = TICK_SECONDS,
    *,
    pause_seconds: float = BUSY_PAUSE_SECONDS,
    follow_seconds: float = FOLLOW_SECONDS,
) -> WaitTick:
    """One tick's loop (see "Cost" above); reads the runs at least once."""
    deadline = time.monotonic() + budget_seconds
    after = state.last_queue_entry()
    follow_until = 0.0
    tick = WaitTick()
    while True:
        runs = _waiting_runs(instance)
        tick.reads += 1
        tick.waiting = max(tick.waiting, len(runs))
        if runs:
            tick.noted += _note_runs(instance, state, runs)
        now = time.monotonic()
        if now >= deadline:
            return tick
        if runs or now < follow_until:
            time.sleep(min(pause_seconds, deadline - now))
            continue
        newest = _next_entry(state, after, deadline)
        if newest is None:
            return tick
        after = newest
        tick.entries += 1
        follow_until = time.monotonic() + follow_seconds


def build_wait_sensor(budget_seconds: float = TICK_SECONDS) -> dg.SensorDefinition:
    """The wait sensor, one tick lasting up to `budget_seconds` (a short one in tests)."""

    @dg.sensor(
        name="deployment_wait_sensor",
        minimum_interval_seconds=2,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Says on each queued deployment what it waits for: the run queue, a build slot "
            f"(n of m), its run's worker starting (one tick listens up to {budget_seconds:g} s)."
        ),
    )
    def deployment_wait_sensor(
        context: dg.SensorEvaluationContext, redis: RedisResource
    ) -> dg.SkipReason:
        tick = watch_waiting(shared_instance(context), redis.state(), budget_seconds)
        if not tick.waiting:
            return dg.SkipReason(
                f"no deployment run waiting to start ({tick.entries} queued meanwhile)"
            )
        return dg.SkipReason(
            f"up to {tick.waiting} run(s) not at their first step; "
            f"{tick.noted} record change(s) noted in {tick.reads} look(s)"
        )

    return deployment_wait_sensor


deployment_wait_sensor = build_wait_sensor()
