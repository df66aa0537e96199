"""`deployment_recovery_sensor`: no deployment stays `building` because a run's end went unseen.

The assets and `deployment_failure_sensor` settle a deployment when its run
fails, except when Dagster says it will retry the run (its worker crashed). Dagster
can then drop the retry: its retry daemon reads the run's failure event and may
find the run not yet marked failed (the event is stored first, the run's status a
moment later), skips it, and never looks at it again; or starting the retry
raises and Dagster gives up. A run canceled from the UI leaves its record where
it was too. Each tick this sensor looks at the deployments whose newest run ended
failed or canceled at least `GRACE_SECONDS` ago while the record is unfinished:

  the run crashed, Dagster promised a retry and none exists
      -> a new run of the same partition with the crashed run's own tags (so it
         moves aliases the way the crashed run would have), one per crashed run
         (its run_key), while the crashes stay within run_retries.max_retries;
  the run failed for an infrastructure fault (Redis, the object store, a disk)
      -> a new run once the component answers or the backoff passed, while within
         DP_INFRA_RETRIES; else failed naming the component and what was tried
         (infra_retry.py). This needs no grace: Dagster never retries those.
  anything else (retry refused or impossible, retries used up, canceled)
      -> the record is marked failed with the run's own error, and the commit too.

While Redis is down this sensor's ticks fail; the first tick after it is back
settles every deployment whose run ended meanwhile, so the outcome converges.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg

from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.records import TERMINAL, DeploymentRecord
from deploy_platform.contracts.tags import (
    AUTO_RETRY_RUN_ID_TAG,
    CHECKS_JOB,
    INFRA_RETRY_TAG,
    PARTITION_TAG,
    RETRY_OF_TAG,
    WILL_RETRY_TAG,
)
from deploy_platform.orchestration.jobs.deploy import deploy_job
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.orchestration.sensors.failure_sensor import (
    failure_cause,
    failure_message,
    settle_failed,
)
from deploy_platform.orchestration.sensors.infra_retry import (
    InfraDecision,
    InfraFailure,
    InfraRetryPolicy,
    decide,
    disk_writable,
    retrying_note,
    run_infra_failure,
)
from deploy_platform.orchestration.sensors.shared_instance import shared_instance
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "deployment_recovery_sensor",
    "Recovery",
    "recovery_for",
    "recover",
    "RecoveryTick",
    "Health",
    "health_checks",
    "RETRY_OF_TAG",
    "GRACE_SECONDS",
    "LOOKBACK_SECONDS",
]

# Longer than Dagster's retry daemon (every 5 s) and the failure sensor's wait for a
# retry decision need, so this sensor only acts on what they left undone.
GRACE_SECONDS = 45.0
LOOKBACK_SECONDS = 6 * 3600.0
_ENDED = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
_MAX_CANDIDATES = 1000


@dataclass(frozen=True)
class Recovery:
    """What to do for one deployment: `retry` its newest run, or `fail` it with `reason`."""

    action: str  # "retry" or "fail"
    run: dg.DagsterRun
    reason: str = ""


def _crashed(run: dg.DagsterRun) -> bool:
    return run.status is dg.DagsterRunStatus.FAILURE and run.tags.get(WILL_RETRY_TAG) == "true"


def recovery_for(runs: Sequence[dg.RunRecord], now: float, max_retries: int) -> Recovery | None:
    """The decision for one partition's runs (newest first), or None to leave it."""
    if not runs:
        return None
    newest = runs[0]
    run = newest.dagster_run
    if run.status not in _ENDED:
        return None  # still going, or succeeded: the assets settle the record
    ended = newest.end_time or newest.update_timestamp.timestamp()
    if now - ended < GRACE_SECONDS:
        return None
    if run.status is dg.DagsterRunStatus.CANCELED:
        return Recovery("fail", run, f"run {run.run_id[:8]} was canceled")
    if _crashed(run) and AUTO_RETRY_RUN_ID_TAG not in run.tags:
        crashes = sum(1 for record in runs if _crashed(record.dagster_run))
        if crashes <= max_retries:
            return Recovery("retry", run)
        return Recovery("fail", run, f"the run worker died {crashes} times")
    return Recovery("fail", run)


def _retry_request(
    run: dg.DagsterRun, deployment_id: str, infra_failures: int = 0
) -> dg.RunRequest:
    # The failed run's own tags, as Dagster's retry copies them: a run started by
    # hand in the UI stays one (see assets/run_origin.py). Not the crashed worker's
    # pid, host and start time: the launcher records the new one's.
    tags = {
        name: value
        for name, value in run.tags.items()
        if not name.startswith(("dagster/", ".dagster/deploy_worker_", "deploy/worker_"))
        and name != INFRA_RETRY_TAG
    }
    tags[RETRY_OF_TAG] = run.run_id
    if infra_failures:
        tags[INFRA_RETRY_TAG] = str(infra_failures)
    prefix = "infra-retry-of" if infra_failures else "retry-of"
    return dg.RunRequest(run_key=f"{prefix}-{run.run_id}", partition_key=deployment_id, tags=tags)


#: Whether an infrastructure component answers again (the sensor's health checks).
Health = Callable[[InfraFailure], bool]


def health_checks(state: PlatformState, object_store: ObjectStoreResource | None) -> Health:
    """Health checks for this tick, each component asked at most once."""
    answers: dict[tuple[str, str], bool] = {}

    def check(failure: InfraFailure) -> bool:
        key = (failure.component, failure.target)
        if key not in answers:
            answers[key] = _answers(failure, state, object_store)
        return answers[key]

    return check


def _answers(
    failure: InfraFailure, state: PlatformState, object_store: ObjectStoreResource | None
) -> bool:
    try:
        if failure.component == "redis":
            return state.ping()  # this tick read Redis already: it is back
        if failure.component == "object-store":
            return object_store is not None and object_store.answers()
        if failure.component == "disk":
            return disk_writable(failure.target)
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    return False


def _error(instance: dg.DagsterInstance, run: dg.DagsterRun, reason: str) -> tuple[str, str]:
    """(the record's error, the commit status's shorter cause)."""
    events = [
        entry.dagster_event
        for entry in instance.all_logs(
            run.run_id,
            of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE},
        )
        if entry.dagster_event is not None
    ]
    steps = [event for event in events if event.is_step_failure]
    failures = [event for event in events if event.event_type == dg.DagsterEventType.RUN_FAILURE]
    failure = failures[-1] if failures else None
    error = failure_message(run.run_id, steps, failure)
    cause = failure_cause(steps, failure)
    if reason:
        error = f"{error}; {reason}" if failure is not None else reason
        cause = f"{cause}; {reason}" if cause else reason
    return error, cause


@dataclass
class RecoveryTick:
    """What one look at the ended runs did."""

    retries: list[dg.RunRequest] = field(default_factory=list)
    #: Each record this tick marked failed, with the shorter cause for its commit status.
    failed: list[tuple[DeploymentRecord, str]] = field(default_factory=list)
    unfinished: int = 0
    #: Deployments waiting for an infrastructure component (or its backoff).
    waiting: list[InfraDecision] = field(default_factory=list)
    #: Decisions to run a deployment again after an infrastructure fault.
    infra_retries: list[InfraDecision] = field(default_factory=list)


def recover(
    instance: dg.DagsterInstance,
    state: PlatformState,
    now: float,
    health: Health | None = None,
    policy: InfraRetryPolicy | None = None,
) -> RecoveryTick:
    """Decide every unfinished deployment whose newest run ended; mark the failures.

    The retries are returned as run requests for the sensor to submit. `health` says
    whether a component answers again (default: ask Redis, nothing else); `policy`
    defaults to the DP_INFRA_RETRY* settings."""
    health = health or health_checks(state, None)
    policy = policy or InfraRetryPolicy.from_env()
    ended = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=_ENDED,
            updated_after=datetime.fromtimestamp(now - LOOKBACK_SECONDS, UTC),
        ),
        limit=_MAX_CANDIDATES,
    )
    candidates = sorted(
        {
            partition
            for record in ended
            if (partition := record.dagster_run.tags.get(PARTITION_TAG))
            and is_deployment_id(partition)
        }
    )
    unfinished = [
        deployment_id
        for deployment_id, record in state.find_many(candidates).items()
        if record.status not in TERMINAL
    ]
    max_retries = instance.run_retries_max_retries if instance.run_retries_enabled else 0
    tick = RecoveryTick(unfinished=len(unfinished))
    failures: dict[str, InfraFailure | None] = {}

    def failure_of(run: dg.DagsterRun) -> InfraFailure | None:
        if run.run_id not in failures:
            failures[run.run_id] = run_infra_failure(instance, run.run_id)
        return failures[run.run_id]

    for deployment_id in unfinished:
        runs = [
            record
            for record in instance.get_run_records(
                filters=dg.RunsFilter(tags={PARTITION_TAG: deployment_id})
            )
            if record.dagster_run.job_name != CHECKS_JOB  # builds nothing: not a deploy run
        ]
        infra = decide(runs, failure_of, now, policy, health)
        if infra is not None:
            _settle_infra(state, deployment_id, infra, policy, tick)
            continue
        recovery = recovery_for(runs, now, max_retries)
        if recovery is None:
            continue
        if recovery.action == "retry":
            tick.retries.append(_retry_request(recovery.run, deployment_id))
            continue
        error, cause = _error(instance, recovery.run, recovery.reason)
        failed = settle_failed(state, deployment_id, error)
        if failed is not None:  # else it was settled its own way in between
            tick.failed.append((failed, cause or error))
    return tick


def _settle_infra(
    state: PlatformState,
    deployment_id: str,
    decision: InfraDecision,
    policy: InfraRetryPolicy,
    tick: RecoveryTick,
) -> None:
    if decision.action == "fail":
        error = decision.final_error()
        failed = settle_failed(state, deployment_id, error)
        if failed is not None:
            tick.failed.append((failed, error))
        return
    note = retrying_note(decision, policy)

    def noted(record: DeploymentRecord) -> DeploymentRecord:
        if record.status in TERMINAL or record.retrying == note:
            return record
        return record.replace(retrying=note)

    state.update(deployment_id, noted)
    if decision.action == "retry":
        tick.retries.append(_retry_request(decision.run, deployment_id, decision.failures))
        tick.infra_retries.append(decision)
    else:
        tick.waiting.append(decision)


@dg.sensor(
    job=deploy_job,
    # What it settles has waited GRACE_SECONDS already; 30 s more is within that scale.
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Starts the retry Dagster promised a crashed deployment run but never started, "
        "runs a deployment again once the Redis, object store or disk that failed it "
        "answers (DP_INFRA_RETRIES), and marks failed a deployment whose run ended "
        "without settling it."
    ),
)
def deployment_recovery_sensor(
    context: dg.SensorEvaluationContext,
    redis: RedisResource,
    commit_status: CommitStatusResource,
    object_store: ObjectStoreResource,
) -> dg.SensorResult | dg.SkipReason:
    state = redis.state()
    tick = recover(shared_instance(context), state, time.time(), health_checks(state, object_store))
    for request in tick.retries:
        if INFRA_RETRY_TAG in request.tags:
            continue
        context.log.info(
            f"run {request.tags[RETRY_OF_TAG][:8]} of {request.partition_key} crashed and "
            "Dagster did not retry it: starting it again"
        )
    for decision in tick.infra_retries:
        context.log.info(
            f"run {decision.run.run_id[:8]} of {decision.run.tags.get(PARTITION_TAG)} failed: "
            f"{decision.failure.headline}; starting it again "
            f"({'it answers' if decision.healthy else 'backoff passed'}, "
            f"{decision.failures} run(s) failed so far)"
        )
    statuses = commit_status.reporter(state, context.log) if tick.failed else None
    for failed, cause in tick.failed:
        context.log.info(f"marked deployment {failed.id} failed: {failed.error}")
        if statuses is not None:
            context.log.info(statuses.failed(failed, cause))
    if tick.retries:
        return dg.SensorResult(run_requests=tick.retries)
    if tick.waiting:
        return dg.SkipReason(
            f"{len(tick.waiting)} deployment(s) waiting for "
            + ", ".join(sorted({d.failure.label for d in tick.waiting}))
            + " to answer"
        )
    return dg.SkipReason(
        f"{tick.unfinished} unfinished deployment(s) with an ended run, none to start again"
        if tick.unfinished
        else "no unfinished deployment with an ended run"
    )
