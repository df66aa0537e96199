"""`deployment_checks`: the asset checks of one deployment, in a run of their own.

The deploy run does not carry the checks. Dagster plans every check of a run when
the run starts, and a check that was planned in a run that then failed shows as
"Execution failed" in the UI, the same red as a check that found a fault: after a
failed build both checks would read as if the published site were broken, when
there was nothing to check. So `deployment_checks_sensor` starts this job after
each successful deploy run (once no deploy run waits in the run queue: see
sensors/checks_sensor.py); a failed build plans no checks, and the UI shows them
as not executed for that deployment.
"""

from __future__ import annotations

import dagster as dg

from deploy_platform.contracts.tags import CHECKS_JOB
from deploy_platform.orchestration.assets.checks import deployment_checks
from deploy_platform.orchestration.assets.partitions import deployments_partitions

__all__ = ["CHECKS_JOB", "checks_job"]

checks_job = dg.define_asset_job(
    CHECKS_JOB,
    selection=dg.AssetSelection.checks(*deployment_checks),
    partitions_def=deployments_partitions,
    executor_def=dg.in_process_executor,
    description=(
        "Check one published deployment (partition = deployment id): the edge serves its "
        "front page and every file is in the object store. Started after each successful "
        "deploy run."
    ),
)
