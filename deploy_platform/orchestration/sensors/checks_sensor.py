"""`deployment_checks_sensor`: checks each deployment once its deploy run succeeded,
and once no deploy run waits for a build slot.

One run of `deployment_checks` (jobs/checks.py) per successful `deploy` run, keyed by
that run, with its labels (project, branch, commit...) so the run list shows the
check run under the same filters. A failed deploy run gets none: its checks were
not run, and the UI says so instead of showing them failed.

Why checks wait. Checks are not on the path to `ready`: a deployment is live when its
deploy run succeeds. A checks run still takes a build slot (the run queue's
`max_concurrent_runs`, instance/home.py) from launch to end, and its queue priority
(-1) only orders runs that wait in the queue together, not a checks run that was
launched a moment before a deploy run was queued. In a burst (issue 15: 50
deployments) a checks run after every success kept slots busy while deploy runs
waited, and the last deployment was ready much later. So a tick requests nothing
while any deploy run is QUEUED or NOT_STARTED, and leaves its cursor where it was:
the next tick after the queue drained requests the checks of every deploy run that
succeeded meanwhile, oldest first. Under a queue that never drains, checks wait
with it.

Cursor. The update time (epoch seconds, a float string) of the newest successful
deploy run a tick handled. A tick reads the deploy runs in SUCCESS updated after
the cursor minus `LOOKBACK_SECONDS`, oldest first, at most `MAX_RUNS_PER_TICK`. The
lookback re-reads a few runs on purpose: two runs can share one update time, and a
run's worker takes its SUCCESS time before its write commits, so a run can become
visible with a time just under a cursor another run already moved there. Reading a
run twice is harmless (its request's run_key `checks-of-<run id>` was used, and the
daemon skips it); missing one would leave a deployment unchecked. A missing or
unreadable cursor (a new install, or the cursor of the run-status sensor this one
replaced) starts from the tick's time minus `FRESH_START_SECONDS`: a new install
does not check its whole history, and an upgrade still checks the deploy runs that
succeeded while the daemon restarted (those checked before carry their run_key
already). The runs are read through the code server's shared instance
(shared_instance.py).
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context parameter.

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.tags import PARTITION_TAG
from deploy_platform.orchestration.jobs.checks import checks_job
from deploy_platform.orchestration.jobs.deploy import DEPLOY_JOB
from deploy_platform.orchestration.sensors.shared_instance import shared_instance

__all__ = [
    "deployment_checks_sensor",
    "checks_request",
    "checks_tick",
    "WAITING_DEPLOY_RUNS",
    "LOOKBACK_SECONDS",
    "FRESH_START_SECONDS",
    "MAX_RUNS_PER_TICK",
]

PRIORITY_TAG = "dagster/priority"

# Deploy runs that wait for a build slot (the daemon's run queue); while one does,
# checks wait too.
WAITING_DEPLOY_RUNS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]
# How far before the cursor a tick reads again (see the module: equal times, late commits).
LOOKBACK_SECONDS = 5.0
# Where a missing or unreadable cursor starts, before the tick's time.
FRESH_START_SECONDS = 600.0
MAX_RUNS_PER_TICK = 200


def checks_request(run: dg.DagsterRun) -> dg.RunRequest | dg.SkipReason:
    """The checks run for a successful deploy run of one partition."""
    deployment_id = run.tags.get(PARTITION_TAG)
    if not deployment_id or not is_deployment_id(deployment_id):
        return dg.SkipReason(f"run {run.run_id} has no deployment partition")
    tags = {name: value for name, value in run.tags.items() if name.startswith("deploy/")}
    tags.pop("deploy/retry_of", None)
    tags.pop("deploy/infra_retry", None)
    # The partition goes in as its run tag: Dagster validates a request's partition_key
    # against the job's assets, and a job of checks alone has none to validate with.
    tags[PARTITION_TAG] = deployment_id
    # Builds first: when runs wait in the queue (max_concurrent_runs, the per-project
    # limit on `deploy/project`, which this run carries too), a deploy run goes ahead.
    tags[PRIORITY_TAG] = "-1"
    return dg.RunRequest(run_key=f"checks-of-{run.run_id}", tags=tags)


def _parse_cursor(cursor: str | None) -> float | None:
    try:
        return float(cursor) if cursor else None
    except ValueError:
        return None  # e.g. the JSON cursor of the run-status sensor this one replaced


def _successes(instance: dg.DagsterInstance, after: float) -> Sequence[dg.RunRecord]:
    return instance.get_run_records(
        dg.RunsFilter(
            job_name=DEPLOY_JOB,
            statuses=[dg.DagsterRunStatus.SUCCESS],
            updated_after=datetime.fromtimestamp(after, tz=UTC),
        ),
        limit=MAX_RUNS_PER_TICK,
        order_by="update_timestamp",
        ascending=True,
    )


def checks_tick(
    instance: dg.DagsterInstance, cursor: str | None, now: float
) -> dg.SensorResult | dg.SkipReason:
    """One tick: the checks requests for the deploy runs that succeeded since `cursor`."""
    start = _parse_cursor(cursor)
    # A fresh cursor is written even on a tick that requests nothing, so that its start
    # is the first tick's time and not a later one's.
    fresh = None if start is not None else repr(now - FRESH_START_SECONDS)
    if start is None:
        start = now - FRESH_START_SECONDS
    waiting = instance.get_runs_count(
        dg.RunsFilter(job_name=DEPLOY_JOB, statuses=WAITING_DEPLOY_RUNS)
    )
    if waiting:
        skip = f"checks wait for {waiting} queued deployment run{'s' if waiting != 1 else ''}"
        return dg.SensorResult(skip_reason=skip, cursor=fresh) if fresh else dg.SkipReason(skip)
    records = _successes(instance, start - LOOKBACK_SECONDS)
    if len(records) >= MAX_RUNS_PER_TICK and records[-1].update_timestamp.timestamp() <= start:
        # A full read that does not get past the cursor (more than a tick's worth of
        # runs in the lookback) would repeat forever: read strictly after the cursor.
        records = _successes(instance, start)
    if not records:
        skip = "no deploy run succeeded since the last tick"
        return dg.SensorResult(skip_reason=skip, cursor=fresh) if fresh else dg.SkipReason(skip)
    requests = [
        request
        for request in (checks_request(record.dagster_run) for record in records)
        if isinstance(request, dg.RunRequest)
    ]
    newest = max(start, records[-1].update_timestamp.timestamp())
    return dg.SensorResult(run_requests=requests, cursor=repr(newest))


@dg.sensor(
    job=checks_job,
    # Checks are not on the path to `ready`: a few seconds more cost nobody a wait.
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After each successful deploy run, checks the deployment it published, once no "
        "deploy run waits in the run queue."
    ),
)
def deployment_checks_sensor(
    context: dg.SensorEvaluationContext,
) -> dg.SensorResult | dg.SkipReason:
    return checks_tick(shared_instance(context), context.cursor, time.time())
