"""`deployment_failure_sensor`: a backstop that marks a deployment failed when its run fails.

The assets mark their own failures with a precise error. This catches what
they cannot: a run worker killed (out of memory, machine restart), a resource
that failed to start, a run that run monitoring timed out. Without it the
record would say `building` forever. A run that Dagster will retry (a crashed
worker, see dagster_home.py) is left alone: its retry decides the outcome.
A deployment it marks failed is also marked `failure` on its commit (the
assets report the failures they catch themselves).
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

from typing import Any

import dagster as dg

from deploy_platform.ids import is_deployment_id
from deploy_platform.records import TERMINAL, Status
from deploy_platform.resources.commit_status import CommitStatusResource
from deploy_platform.resources.redis_state import RedisResource

__all__ = ["deployment_failure_sensor", "run_error_message", "run_failure_cause"]

_PARTITION_TAG = "dagster/partition"
_WILL_RETRY_TAG = "dagster/will_retry"
_MAX_ERROR = 500


def run_error_message(context: dg.RunFailureSensorContext) -> str:
    """One readable line: the root cause of the failed step, else of the run's failure."""
    run = f"run {context.dagster_run.run_id[:8]}"
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        cause = _root_cause(data.error if data is not None else None)
        if cause:
            return f"{run} failed in {event.step_key}: {cause}"[:_MAX_ERROR]
    failure = context.failure_event
    job_data = failure.job_failure_data if failure.is_job_failure else None
    cause = _root_cause(job_data.error if job_data is not None else None)
    summary = _first_line(failure.message) or "the run failed"
    return (f"{run} failed: {summary} ({cause})" if cause else f"{run} failed: {summary}")[
        :_MAX_ERROR
    ]


def run_failure_cause(context: dg.RunFailureSensorContext) -> str:
    """The root cause alone, short enough for a commit status ("" when unknown)."""
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        cause = _root_cause(data.error if data is not None else None)
        if cause:
            return cause
    failure = context.failure_event
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


# Monitors every job in this code location: the queue sensor's `deploy` job and the
# runs people start from the UI when they re-materialize a deployment's assets.
@dg.run_failure_sensor(
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks a deployment failed in Redis when its run fails without doing so itself.",
)
def deployment_failure_sensor(
    context: dg.RunFailureSensorContext, redis: RedisResource, commit_status: CommitStatusResource
) -> None:
    # Read again: the retry decision is tagged onto the run after its failure event.
    run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    deployment_id = run.tags.get(_PARTITION_TAG)
    if not deployment_id or not is_deployment_id(deployment_id):
        return
    if run.tags.get(_WILL_RETRY_TAG) == "true":
        # A crashed worker: the run-retry daemon re-executes it (see dagster_home.py).
        context.log.info(f"run {run.run_id[:8]} of {deployment_id} will be retried")
        return
    state = redis.state()
    record = state.find(deployment_id)
    # Terminal records are left alone: `failed` already carries the asset's precise
    # error, and `ready` means a later run of this partition succeeded.
    if record is None or record.status in TERMINAL:
        return
    error = run_error_message(context)
    failed = state.update(
        deployment_id,
        lambda r: r if r.status in TERMINAL else r.with_status(Status.FAILED, error=error),
    )
    if failed.status is not Status.FAILED or failed.error != error:
        return  # the run finished its own way in between
    context.log.info(f"marked deployment {deployment_id} failed: {error}")
    statuses = commit_status.reporter(state, context.log)
    if statuses is not None:
        # GitHub shows 140 characters: the root cause first, not Dagster's preamble.
        cause = run_failure_cause(context)
        reason = f"run {run.run_id[:8]} died: {cause}" if cause else error
        context.log.info(statuses.failed(failed, reason))
