"""`deployment_failure_sensor`: a backstop that marks a deployment failed when its run fails.

The assets mark their own failures with a precise error. This catches what
they cannot: a run worker killed (out of memory, machine restart), a resource
that failed to start, a run that run monitoring timed out. Without it the
record would say `building` forever. A run that Dagster will retry (a crashed
worker, see instance/home.py) is left alone: its retry decides the outcome, and
if that retry never comes `deployment_recovery_sensor` (recovery_sensor.py)
starts one or marks the deployment failed.
A run that failed for an infrastructure fault (an `InfrastructureError` from
Redis, the object store or a disk; see deploy_platform/contracts/errors.py) is left alone as
well: `deployment_recovery_sensor` runs the deployment again once the component
answers (infra_retry.py), and only fails it after DP_INFRA_RETRIES runs.
A deployment it marks failed is also marked `failure` on its commit (the
assets report the failures they catch themselves).
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import time
from collections.abc import Sequence
from typing import Any

import dagster as dg

from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.records import TERMINAL, DeploymentRecord, Status
from deploy_platform.contracts.tags import CHECKS_JOB, PARTITION_TAG, WILL_RETRY_TAG
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.orchestration.sensors.infra_retry import infra_failure_of
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "deployment_failure_sensor",
    "failure_message",
    "failure_cause",
    "retry_decided",
    "settle_failed",
    "WILL_RETRY_TAG",
    "RETRY_DECISION_SECONDS",
]

# Dagster tags a failed run with its retry decision just after storing the failure
# event, so a sensor can see the event first; under load the gap was over a second.
RETRY_DECISION_SECONDS = 10.0
_MAX_ERROR = 500


def failure_message(
    run_id: str, step_failures: Sequence[dg.DagsterEvent], failure: dg.DagsterEvent | None
) -> str:
    """One readable line: the root cause of the failed step, else of the run's failure."""
    run = f"run {run_id[:8]}"
    step = _step_cause(step_failures)
    if step is not None:
        return f"{run} failed in {step[0]}: {step[1]}"[:_MAX_ERROR]
    if failure is None:
        return f"{run} failed"
    cause = _run_cause(failure)
    summary = _first_line(failure.message) or "the run failed"
    return (f"{run} failed: {summary} ({cause})" if cause else f"{run} failed: {summary}")[
        :_MAX_ERROR
    ]


def failure_cause(step_failures: Sequence[dg.DagsterEvent], failure: dg.DagsterEvent | None) -> str:
    """The root cause alone, short enough for a commit status ("" when unknown)."""
    step = _step_cause(step_failures)
    if step is not None:
        return step[1]
    return _run_cause(failure) if failure is not None else ""


def _step_cause(step_failures: Sequence[dg.DagsterEvent]) -> tuple[str, str] | None:
    """(step key, root cause) of the first failed step that names one."""
    for event in step_failures:
        data = event.step_failure_data
        cause = _root_cause(data.error if data is not None else None)
        if cause:
            return str(event.step_key), cause
    return None


def _run_cause(failure: dg.DagsterEvent) -> str:
    job_data = failure.job_failure_data if failure.is_job_failure else None
    return _root_cause(job_data.error if job_data is not None else None)


def _root_cause(error: Any) -> str:
    """The innermost exception of a Dagster error chain, e.g. "RuntimeError: disk full"."""
    if error is None:
        return ""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return _first_line(getattr(error, "message", ""))


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def settle_failed(state: PlatformState, deployment_id: str, error: str) -> DeploymentRecord | None:
    """Mark the record failed with `error` unless it is finished; the record if this did."""

    def fail(record: DeploymentRecord) -> DeploymentRecord:
        if record.status in TERMINAL:
            return record
        return record.with_status(Status.FAILED, error=error, retrying=None)

    failed = state.update(deployment_id, fail)
    return failed if failed.status is Status.FAILED and failed.error == error else None


def _errors(step_failures: Sequence[dg.DagsterEvent], failure: dg.DagsterEvent | None) -> list[Any]:
    """The error chains of the failed steps and of the run (SerializableErrorInfo)."""
    errors: list[Any] = [
        event.step_failure_data.error
        for event in step_failures
        if event.step_failure_data is not None
    ]
    if failure is not None and failure.is_job_failure and failure.job_failure_data is not None:
        errors.append(failure.job_failure_data.error)
    return errors


def retry_decided(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun:
    """The run as stored once Dagster has tagged whether it will retry it (at most
    RETRY_DECISION_SECONDS later); as it is when run retries are off."""
    deadline = time.monotonic() + RETRY_DECISION_SECONDS
    while True:
        run = instance.get_run_by_id(run.run_id) or run
        if (
            WILL_RETRY_TAG in run.tags
            or not instance.run_retries_enabled
            or time.monotonic() >= deadline
        ):
            return run
        time.sleep(0.2)


# Monitors every job in this code location: the queue sensor's `deploy` job and the
# runs people start from the UI when they re-materialize a deployment's assets.
# Every 30 s: a backstop. A failing step marks its deployment failed itself; this
# catches a run whose worker died (run monitoring checks the workers every 10 s), and
# every tick costs an evaluation in the code server even when nothing failed.
@dg.run_failure_sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks a deployment failed in Redis when its run fails without doing so itself.",
)
def deployment_failure_sensor(
    context: dg.RunFailureSensorContext, redis: RedisResource, commit_status: CommitStatusResource
) -> None:
    deployment_id = context.dagster_run.tags.get(PARTITION_TAG)
    if not deployment_id or not is_deployment_id(deployment_id):
        return
    if context.dagster_run.job_name == CHECKS_JOB:
        return  # checks report on the asset; they never fail a deployment
    steps = context.get_step_failure_events()
    infra = infra_failure_of(_errors(steps, context.failure_event))
    if infra is not None:
        # Decided without Redis, which may be the component that is down.
        context.log.info(
            f"run {context.dagster_run.run_id[:8]} of {deployment_id} failed: {infra.headline}; "
            "deployment_recovery_sensor runs it again once that answers"
        )
        return
    run = retry_decided(context.instance, context.dagster_run)
    if context.instance.run_retries_enabled and WILL_RETRY_TAG not in run.tags:
        # Undecided: deployment_recovery_sensor settles it once the run has been over.
        context.log.info(f"run {run.run_id[:8]} of {deployment_id}: no retry decision yet")
        return
    if run.tags.get(WILL_RETRY_TAG) == "true":
        # A crashed worker: the run-retry daemon re-executes it (see instance/home.py).
        context.log.info(f"run {run.run_id[:8]} of {deployment_id} will be retried")
        return
    state = redis.state()
    record = state.find(deployment_id)
    # Terminal records are left alone: `failed` already carries the asset's precise
    # error, and `ready` means a later run of this partition succeeded.
    if record is None or record.status in TERMINAL:
        return
    error = failure_message(run.run_id, steps, context.failure_event)
    failed = settle_failed(state, deployment_id, error)
    if failed is None:
        return  # the run finished its own way in between
    context.log.info(f"marked deployment {deployment_id} failed: {error}")
    statuses = commit_status.reporter(state, context.log)
    if statuses is not None:
        # GitHub shows 140 characters: the root cause first, not Dagster's preamble.
        cause = failure_cause(steps, context.failure_event)
        reason = f"run {run.run_id[:8]} died: {cause}" if cause else error
        context.log.info(statuses.failed(failed, reason))
