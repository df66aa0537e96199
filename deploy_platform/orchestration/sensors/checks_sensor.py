"""`deployment_checks_sensor`: checks each deployment once its deploy run succeeded.

One run of `deployment_checks` (jobs/checks.py) per successful `deploy` run, keyed by
that run, with its labels (project, branch, commit...) so the run list shows the
check run under the same filters. A failed deploy run gets none: its checks were
not run, and the UI says so instead of showing them failed.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context parameter.

import dagster as dg

from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.tags import PARTITION_TAG
from deploy_platform.orchestration.jobs.checks import checks_job
from deploy_platform.orchestration.jobs.deploy import deploy_job

__all__ = ["deployment_checks_sensor", "checks_request"]

PRIORITY_TAG = "dagster/priority"


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


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[deploy_job],
    request_job=checks_job,
    # Checks are not on the path to `ready`: a few seconds more cost nobody a wait.
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After each successful deploy run, checks the deployment it published.",
)
def deployment_checks_sensor(
    context: dg.RunStatusSensorContext,
) -> dg.RunRequest | dg.SkipReason:
    return checks_request(context.dagster_run)
