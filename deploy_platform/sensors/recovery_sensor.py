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
  anything else (retry refused or impossible, retries used up, canceled)
      -> the record is marked failed with the run's own error, and the commit too.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg

from deploy_platform.ids import is_deployment_id
from deploy_platform.jobs import deploy_job
from deploy_platform.records import TERMINAL, DeploymentRecord
from deploy_platform.resources.commit_status import CommitStatusResource
from deploy_platform.resources.redis_state import RedisResource
from deploy_platform.sensors.failure_sensor import (
    failure_cause,
    failure_message,
    settle_failed,
)
from deploy_platform.state import PlatformState
from deploy_platform.tags import (
    AUTO_RETRY_RUN_ID_TAG,
    PARTITION_TAG,
    RETRY_OF_TAG,
    WILL_RETRY_TAG,
)

__all__ = [
    "deployment_recovery_sensor",
    "Recovery",
    "recovery_for",
    "recover",
    "RecoveryTick",
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


def _retry_request(run: dg.DagsterRun, deployment_id: str) -> dg.RunRequest:
    # The crashed run's own tags, as Dagster's retry copies them: a run started by
    # hand in the UI stays one (see assets/run_origin.py).
    tags = {name: value for name, value in run.tags.items() if not name.startswith("dagster/")}
    return dg.RunRequest(
        run_key=f"retry-of-{run.run_id}",
        partition_key=deployment_id,
        tags={**tags, RETRY_OF_TAG: run.run_id},
    )


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


def recover(instance: dg.DagsterInstance, state: PlatformState, now: float) -> RecoveryTick:
    """Decide every unfinished deployment whose newest run ended; mark the failures.

    The retries are returned as run requests for the sensor to submit."""
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
    for deployment_id in unfinished:
        runs = instance.get_run_records(filters=dg.RunsFilter(tags={PARTITION_TAG: deployment_id}))
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


@dg.sensor(
    job=deploy_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Starts the retry Dagster promised a crashed deployment run but never started, "
        "and marks failed a deployment whose run ended without settling it."
    ),
)
def deployment_recovery_sensor(
    context: dg.SensorEvaluationContext, redis: RedisResource, commit_status: CommitStatusResource
) -> dg.SensorResult | dg.SkipReason:
    state = redis.state()
    tick = recover(context.instance, state, time.time())
    for request in tick.retries:
        context.log.info(
            f"run {request.tags[RETRY_OF_TAG][:8]} of {request.partition_key} crashed and "
            "Dagster did not retry it: starting it again"
        )
    statuses = commit_status.reporter(state, context.log) if tick.failed else None
    for failed, cause in tick.failed:
        context.log.info(f"marked deployment {failed.id} failed: {failed.error}")
        if statuses is not None:
            context.log.info(statuses.failed(failed, cause))
    if tick.retries:
        return dg.SensorResult(run_requests=tick.retries)
    return dg.SkipReason(
        f"{tick.unfinished} unfinished deployment(s) with an ended run, none to start again"
        if tick.unfinished
        else "no unfinished deployment with an ended run"
    )
