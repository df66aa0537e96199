"""The Dagster code location: three partitioned assets and their checks, the deploy job,
the sensors (queue lanes, run failure, recovery, commit statuses), and the retention
job with its daily schedule (jobs/retention.py).

Every setting reaches the resources through `dg.EnvVar`, resolved when a run or
a sensor tick starts, never at import time (and secrets are not shown in the UI).
The code location needs these variables set; `deploy-platform up` always sets
all of them, possibly to an empty string:

  DP_REDIS_URL             Redis URL (required to be non-empty)
  DP_REDIS_PREFIX          key prefix, normally "dp:" or the naming configuration's
                           "<customer>-<project>-<env>-state:" (empty = no prefix)
  DP_STORAGE_URL           file:///path or s3://bucket/prefix?endpoint_url=...
  DP_S3_ACCESS_KEY_ID      S3/R2 credentials; empty = boto3's own chain
  DP_S3_SECRET_ACCESS_KEY
  DP_GIT_ALLOW_HOSTS       comma list of private hosts git may fetch from; may be empty
  DP_TOOL_CACHE_DIR        where downloaded Node versions and package managers are kept
  DP_MAX_REPO_BYTES        repository size limit in bytes: an integer, never empty
                           (`Settings.from_env`, which `up` uses, refuses an empty one too)
  DP_CF_API_URL, DP_CF_ACCOUNT_ID, DP_CF_KV_NAMESPACE_ID, DP_CF_API_TOKEN
                           the Worker's KV alias index; all empty = none (publish/cloudflare_kv.py;
                           its DP_CF_KV_DOMAINS_NAMESPACE_ID is the control API's, not read here)
  DP_GITHUB_API_URL, DP_GITHUB_TOKEN, DP_GITHUB_STATUS_CONTEXT
                           GitHub commit statuses; empty token = none (github/statuses.py)
  DP_EDGE_ORIGIN_URL       the edge-origin the `index_served` check asks (empty: the check
                           fails saying so); DP_BASE_DOMAIN names the deployment's host
  DP_RETAIN_PER_BRANCH, DP_RETAIN_DAYS, DP_EDGE_SKEW_GRACE_SECONDS
                           the retention job's policy, read when it runs; empty = the
                           defaults (retention/policy.py)

An unset variable fails the run or tick with Dagster's "environment variable
... is not set" error naming it.
"""

from __future__ import annotations

import dagster as dg

from deploy_platform.assets import built_artifact, published_deployment, source_archive
from deploy_platform.assets.checks import deployment_checks
from deploy_platform.jobs.deploy import deploy_job
from deploy_platform.jobs.retention import retention_job, retention_schedule
from deploy_platform.resources.alias_index import AliasIndexResource
from deploy_platform.resources.build_runner import NodeBuildRunner
from deploy_platform.resources.commit_status import CommitStatusResource
from deploy_platform.resources.edge_origin import EdgeOriginResource
from deploy_platform.resources.git_source import GitSourceResource
from deploy_platform.resources.object_store import ObjectStoreResource
from deploy_platform.resources.redis_state import RedisResource
from deploy_platform.sensors.commit_status_sensor import commit_status_sensor
from deploy_platform.sensors.failure_sensor import deployment_failure_sensor
from deploy_platform.sensors.queue_sensor import queue_sensors
from deploy_platform.sensors.recovery_sensor import deployment_recovery_sensor

__all__ = ["defs", "ENV_VARS"]

ENV_VARS = (
    "DP_REDIS_URL",
    "DP_REDIS_PREFIX",
    "DP_STORAGE_URL",
    "DP_S3_ACCESS_KEY_ID",
    "DP_S3_SECRET_ACCESS_KEY",
    "DP_GIT_ALLOW_HOSTS",
    "DP_MAX_REPO_BYTES",
    "DP_TOOL_CACHE_DIR",
    "DP_CF_API_URL",
    "DP_CF_ACCOUNT_ID",
    "DP_CF_KV_NAMESPACE_ID",
    "DP_CF_API_TOKEN",
    "DP_GITHUB_API_URL",
    "DP_GITHUB_TOKEN",
    "DP_GITHUB_STATUS_CONTEXT",
    "DP_EDGE_ORIGIN_URL",
    "DP_BASE_DOMAIN",
    "DP_RETAIN_PER_BRANCH",
    "DP_RETAIN_DAYS",
    "DP_EDGE_SKEW_GRACE_SECONDS",
)

defs = dg.Definitions(
    assets=[source_archive, built_artifact, published_deployment],
    # index_served and bodies_stored run after published_deployment in every deploy run.
    asset_checks=deployment_checks,
    jobs=[deploy_job, retention_job],
    schedules=[retention_schedule],
    sensors=[
        *queue_sensors,
        deployment_failure_sensor,
        deployment_recovery_sensor,
        commit_status_sensor,
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
