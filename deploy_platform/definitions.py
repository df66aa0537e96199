"""The Dagster code location: three partitioned assets and their checks, the deploy job
and the checks job, the sensors (queue lanes, run failure, recovery, waiting, checks after
a successful deploy, commit statuses), and the retention
job with its daily schedule (jobs/retention.py).

Every setting reaches the resources through `dg.EnvVar`, resolved when a run or
a sensor tick starts, never at import time (and secrets are not shown in the UI).
The code location needs the variables of `ENV_VARS` set: those the settings
registry (`deploy_platform/settings/registry.py`) says the code location reads,
with their types, defaults and meaning (docs/reference/configuration.md).
`deploy-platform up` always sets all of them, possibly to an empty string;
DP_MAX_REPO_BYTES is an integer, never empty. An unset variable fails the run or
tick with Dagster's "environment variable ... is not set" error naming it. The
sensors and the build also read a few optional ones from the environment
(DP_INFRA_RETRIES, DP_BUILD_ISOLATION; unset means the default).
"""

from __future__ import annotations

import os

import dagster as dg

from deploy_platform.orchestration.assets import (
    built_artifact,
    published_deployment,
    source_archive,
)
from deploy_platform.orchestration.assets.checks import deployment_checks
from deploy_platform.orchestration.jobs.checks import checks_job
from deploy_platform.orchestration.jobs.deploy import deploy_job
from deploy_platform.orchestration.jobs.retention import retention_job, retention_schedule
from deploy_platform.orchestration.resources.alias_index import AliasIndexResource
from deploy_platform.orchestration.resources.build_runner import NodeBuildRunner
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.edge_origin import EdgeOriginResource
from deploy_platform.orchestration.resources.git_source import GitSourceResource
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.orchestration.sensors.checks_sensor import deployment_checks_sensor
from deploy_platform.orchestration.sensors.commit_status_sensor import (
    build_commit_status_sensor,
)
from deploy_platform.orchestration.sensors.failure_sensor import deployment_failure_sensor
from deploy_platform.orchestration.sensors.queue_sensor import queue_sensors
from deploy_platform.orchestration.sensors.recovery_sensor import deployment_recovery_sensor
from deploy_platform.orchestration.sensors.wait_sensor import deployment_wait_sensor
from deploy_platform.settings.registry import Reader, read_by

__all__ = ["defs", "ENV_VARS"]

#: Every variable the resources and jobs below read through `dg.EnvVar` or at run start.
ENV_VARS = read_by(Reader.CODE_LOCATION)

defs = dg.Definitions(
    assets=[source_archive, built_artifact, published_deployment],
    # index_served and bodies_stored run in a run of their own after every successful
    # deploy run (jobs/checks.py).
    asset_checks=deployment_checks,
    jobs=[deploy_job, checks_job, retention_job],
    schedules=[retention_schedule],
    sensors=[
        *queue_sensors,
        deployment_failure_sensor,
        deployment_recovery_sensor,
        deployment_wait_sensor,
        deployment_checks_sensor,
        # Stopped by default when the code server has no DP_GITHUB_TOKEN.
        build_commit_status_sensor(os.environ),
    ],
    # Also for the runs people start from the UI (re-materializing a deployment's
    # assets): one process per run, not one per step (see jobs.py).
    executor=dg.in_process_executor,
    resources={
        "redis": RedisResource(
            url=dg.EnvVar("DP_REDIS_URL"),
            prefix=dg.EnvVar("DP_REDIS_PREFIX"),
        ),
        "object_store": ObjectStoreResource(
            url=dg.EnvVar("DP_STORAGE_URL"),
            access_key_id=dg.EnvVar("DP_S3_ACCESS_KEY_ID"),
            secret_access_key=dg.EnvVar("DP_S3_SECRET_ACCESS_KEY"),
        ),
        "git_source": GitSourceResource(
            allow_hosts=dg.EnvVar("DP_GIT_ALLOW_HOSTS"),
            max_repo_bytes=dg.EnvVar.int("DP_MAX_REPO_BYTES"),
        ),
        # Real builds: detection, Node/package-manager provisioning, cache, sandbox.
        "build_runner": NodeBuildRunner(tool_cache_dir=dg.EnvVar("DP_TOOL_CACHE_DIR")),
        "alias_index": AliasIndexResource(
            api_url=dg.EnvVar("DP_CF_API_URL"),
            account_id=dg.EnvVar("DP_CF_ACCOUNT_ID"),
            namespace_id=dg.EnvVar("DP_CF_KV_NAMESPACE_ID"),
            api_token=dg.EnvVar("DP_CF_API_TOKEN"),
        ),
        "commit_status": CommitStatusResource(
            api_url=dg.EnvVar("DP_GITHUB_API_URL"),
            token=dg.EnvVar("DP_GITHUB_TOKEN"),
            context=dg.EnvVar("DP_GITHUB_STATUS_CONTEXT"),
        ),
        "edge_origin": EdgeOriginResource(
            url=dg.EnvVar("DP_EDGE_ORIGIN_URL"),
            base_domain=dg.EnvVar("DP_BASE_DOMAIN"),
        ),
    },
)
