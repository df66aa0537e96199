"""`deployment_queue_sensor`: Redis Stream entries -> one partitioned run per deployment.

Delivery is at-least-once, submission exactly-once:
- The cursor is the id of the last stream entry this sensor turned into a run
  request. Dagster stores it with the tick's reserved run requests, so if the
  tick or the daemon dies before that, the cursor has not moved and the entries
  are read again on the next tick.
- The deployment id is the `run_key`: the daemon skips a run request whose
  run_key this sensor already submitted, so reading an entry twice (or the API
  enqueueing an id twice) still starts one run.
- A fresh cursor (a new DAGSTER_HOME, or the sensor reset in the UI) starts at
  the beginning of the stream ("0-0"), not at "$": anything the API queued while
  no daemon was running must still be deployed. Entries whose record is already
  ready or failed are skipped, so a new Dagster instance over an old Redis does
  not redeploy history; run_key dedup covers the rest.

Latency. The sensor daemon wakes every 5 seconds (`MIN_INTERVAL_LOOP_TIME` in
dagster/_daemon/sensor.py) and, with `sensors.use_threads`, hands each running
sensor whose `minimum_interval_seconds` has elapsed to a worker thread, one tick in
flight per sensor: a lane whose tick is still running at a wake-up is skipped. A
tick that only read the stream and returned would leave an id enqueued just after it
waiting ~5 s, and would cost a tick (a tick record in the daemon, a gRPC call and a
sensor context in the code server) every 5 s per lane while nothing happens. Instead
each tick long-polls: XREAD BLOCK, in pieces of at most `BLOCK_PIECE_SECONDS` (under
the Redis client's socket timeout), for up to the lane's budget, returning the
moment an entry arrives. The budget (`lane_budget`: `LANE_BUDGET_SECONDS` plus
`LANE_STAGGER_SECONDS` per lane, so 89.5, 94.5 and 99.5 s) ends half a second
before a wake-up: the tick is over by then, so the next one starts at that
wake-up, not a loop later. An id enqueued in that gap is read at once by the next
tick (the cursor has not passed it); one enqueued during a poll becomes a run
request within milliseconds. An idle lane so ticks about every 1.5 minutes instead
of ~18 times; each tick costs a tick record and a gRPC call, so fewer, longer ticks
are most of what an idle platform saves. The longest tick stays well under the
sensor evaluation timeout that `up` gives the daemon
(DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS=180; Dagster's default, 60 s, would end it).
Each poll piece notes the tick in Redis again, so the API, which takes a queue
sensor quiet for QUIET_SECONDS as no daemon (api/waiting.py), sees a lane in a long
tick as alive. `minimum_interval_seconds=1`
keeps Dagster's own interval from adding to that.

Lanes. A tick that finds an entry returns at once (its run should start now), and
that lane is deaf until its next tick starts at a wake-up: under a steady stream of
deployments every one would wait for the wake-up. So the same sensor runs as
`QUEUE_LANES` lanes (three: a used lane is deaf for up to 5 s, so at one deployment
every ~2.5 s, faster than a team pushing in a loop, another is always listening;
a burst is no problem, since one tick takes up to `MAX_RUNS_PER_TICK` ids at once)
that all read the whole stream, each with its own cursor; the first lane to claim an
id in Redis (`PlatformState.claim`, SET NX) requests its run and the others skip it
and keep listening. The lanes' budgets differ by `LANE_STAGGER_SECONDS` (one wake-
up) so that lanes started at the same wake-up end, and go deaf for their half
second, at different wake-ups. A lane that re-reads an id it claimed (its tick died)
requests it again and its run_key dedup applies, so exactly-once still holds across
lanes."""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.records import TERMINAL, DeploymentRecord
from deploy_platform.contracts.tags import run_tags
from deploy_platform.orchestration.assets.partitions import deployments_partitions
from deploy_platform.orchestration.jobs.deploy import deploy_job
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.storage.redis_state import STREAM_START, PlatformState

__all__ = [
    "deployment_queue_sensor",
    "queue_sensors",
    "QUEUE_LANES",
    "lane_name",
    "collect_queued",
    "QueueBatch",
    "run_tags",
    "LANE_BUDGET_SECONDS",
    "LANE_STAGGER_SECONDS",
    "BLOCK_PIECE_SECONDS",
    "lane_budget",
    "build_queue_sensor",
    "MAX_RUNS_PER_TICK",
]

LANE_BUDGET_SECONDS = 89.5
LANE_STAGGER_SECONDS = 5.0
# Under RedisResource.timeout_seconds (the socket timeout a blocked XREAD must beat).
BLOCK_PIECE_SECONDS = 10.0
QUEUE_LANES = 3
MAX_RUNS_PER_TICK = 100
_PAGE = 500
_ENTRY_ID_RE = re.compile(r"^\d+-\d+$")


@dataclass
class QueueBatch:
    """The deployments to start, and the stream position after the last entry handled."""

    cursor: str
    records: list[DeploymentRecord] = field(default_factory=list)
    skipped: int = 0


def collect_queued(
    state: PlatformState,
    cursor: str,
    *,
    poll_seconds: float = LANE_BUDGET_SECONDS,
    max_runs: int = MAX_RUNS_PER_TICK,
    log: Callable[[str], object] = print,
    owner: str | None = None,
    listening: Callable[[], object] | None = None,
) -> QueueBatch:
    """Read queue entries after `cursor`; long-poll up to `poll_seconds` when there are none.

    With `owner` (a lane's name) an entry is only taken if that lane holds its claim.
    `listening` is called before each blocking read (at most `BLOCK_PIECE_SECONDS` long).
    """
    batch = QueueBatch(cursor=cursor)
    seen: set[str] = set()
    deadline = time.monotonic() + poll_seconds
    while len(batch.records) < max_runs:
        entries = state.read_queue(batch.cursor, count=_PAGE)
        if not entries:
            remaining = deadline - time.monotonic()
            if batch.records or remaining < 0.05:
                break
            if listening is not None:
                listening()
            piece = min(remaining, BLOCK_PIECE_SECONDS)
            entries = state.read_queue(batch.cursor, count=_PAGE, block_ms=int(piece * 1000))
            if not entries:
                continue  # this piece ran out: block again while the budget lasts
        for entry_id, deployment_id in entries:
            if len(batch.records) >= max_runs:
                break
            batch.cursor = entry_id
            record = _startable(state, entry_id, deployment_id, seen, log, owner)
            if record is None:
                batch.skipped += 1
            else:
                seen.add(record.id)
                batch.records.append(record)
    return batch


def _startable(
    state: PlatformState,
    entry_id: str,
    deployment_id: str,
    seen: set[str],
    log: Callable[[str], object],
    owner: str | None = None,
) -> DeploymentRecord | None:
    if not is_deployment_id(deployment_id):
        log(f"queue entry {entry_id}: {deployment_id!r} is not a deployment id; skipped")
        return None
    if deployment_id in seen:
        return None
    record = state.find(deployment_id)
    if record is None:
        log(f"queue entry {entry_id}: no record for deployment {deployment_id}; skipped")
        return None
    if record.status in TERMINAL:
        log(f"queue entry {entry_id}: deployment {deployment_id} is already {record.status}")
        return None
    if owner is not None and not state.claim(deployment_id, owner):
        return None  # another lane requested its run
    return record


def lane_name(lane: int) -> str:
    return "deployment_queue_sensor" if lane == 0 else f"deployment_queue_sensor_lane_{lane + 1}"


def lane_budget(lane: int) -> float:
    """How long one tick of `lane` long-polls at most (see "Latency" and "Lanes" above)."""
    return LANE_BUDGET_SECONDS + LANE_STAGGER_SECONDS * lane


def build_queue_sensor(lane: int, budget_seconds: float | None = None) -> dg.SensorDefinition:
    """One lane of the queue sensor (see "Lanes" above); a shorter `budget_seconds` for tests."""
    name = lane_name(lane)
    budget = lane_budget(lane) if budget_seconds is None else budget_seconds

    @dg.sensor(
        name=name,
        job=deploy_job,
        minimum_interval_seconds=1,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Starts one run per deployment id queued in Redis (long-polls the stream "
            f"up to {budget:g} s a tick; lane {lane + 1} of {QUEUE_LANES})."
        ),
    )
    def queue_lane(context: dg.SensorEvaluationContext, redis: RedisResource) -> dg.SensorResult:
        cursor = context.cursor or STREAM_START
        if not _ENTRY_ID_RE.match(cursor):
            context.log.warning(
                f"cursor {cursor!r} is not a stream entry id; reading from the start"
            )
            cursor = STREAM_START
        state = redis.state()
        # Before the first tick the API says a queued deployment waits for the daemon;
        # noted again before each poll piece, so a long tick still counts as alive.
        state.note_queue_tick(time.time())
        batch = collect_queued(
            state,
            cursor,
            poll_seconds=budget,
            log=context.log.info,
            owner=name,
            listening=lambda: state.note_queue_tick(time.time()),
        )
        if not batch.records:
            return dg.SensorResult(
                cursor=batch.cursor,
                skip_reason=dg.SkipReason(
                    f"no deployments queued ({batch.skipped} entries skipped)"
                    if batch.skipped
                    else "no deployments queued"
                ),
            )
        ids = [record.id for record in batch.records]
        # No "run requested" on the record here: this tick runs in the code server, which
        # outlives a killed daemon, so its answer may reach no one. The wait sensor says
        # it once the run exists; the claim still lets this lane's next tick request it.
        context.log.info(f"starting {len(ids)} deployment(s): {', '.join(ids)}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=record.id, partition_key=record.id, tags=run_tags(record))
                for record in batch.records
            ],
            dynamic_partitions_requests=[deployments_partitions.build_add_request(ids)],
            cursor=batch.cursor,
        )

    return queue_lane


queue_sensors = [build_queue_sensor(lane) for lane in range(QUEUE_LANES)]
deployment_queue_sensor = queue_sensors[0]
