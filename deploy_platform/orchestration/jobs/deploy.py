"""The job the queue sensor starts: all three assets for one deployment partition."""

from __future__ import annotations

import dagster as dg

from deploy_platform.contracts.tags import DEPLOY_JOB
from deploy_platform.orchestration.assets.built_artifact import built_artifact
from deploy_platform.orchestration.assets.partitions import deployments_partitions
from deploy_platform.orchestration.assets.published_deployment import published_deployment
from deploy_platform.orchestration.assets.source_archive import source_archive

__all__ = ["DEPLOY_JOB", "deploy_job"]

# The in-process executor runs the three steps in the run worker's own process.
# Starting a Python process that imports Dagster and this code takes seconds on a
# small machine and is the largest share of enqueue-to-live time; the default
# multiprocess executor would pay it again for every step.
deploy_job = dg.define_asset_job(
    DEPLOY_JOB,
    # Without the asset checks: they run in a run of their own once this one succeeded
    # (jobs/checks.py says why).
    selection=dg.AssetSelection.assets(
        source_archive, built_artifact, published_deployment
    ).without_checks(),
    partitions_def=deployments_partitions,
    executor_def=dg.in_process_executor,
    description=(
        "Fetch the source, build it and publish one deployment (partition = deployment id, "
        "labelled with its project, branch and commit in the run tags)."
    ),
)
