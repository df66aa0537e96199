"""The retention policy as a Dagster job: `retention`, run daily by `retention_schedule`.

What `deploy-platform gc` does by hand (`deploy_platform.retention`), run by the
Dagster daemon so old deployments go without anyone remembering to, as hosted
platforms do: every day at 03:17 UTC, with the policy of DP_RETAIN_PER_BRANCH,
DP_RETAIN_DAYS and DP_EDGE_SKEW_GRACE_SECONDS (read when the run starts). The
schedule can be stopped in the UI. Launched by hand from the UI's launchpad,
`dry_run: true` shows what would go, and `keep_per_branch` / `keep_days` override
the settings for that run. The report is the run's log and its output's metadata.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the config and resource parameters.

import os

import dagster as dg
from pydantic import Field

from deploy_platform.orchestration.jobs.purge import collect_with_history
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.retention.policy import RetentionPolicy
from deploy_platform.retention.report import format_report

__all__ = ["retention_job", "retention_schedule", "RetentionConfig", "RETENTION_CRON"]

RETENTION_CRON = "17 3 * * *"


class RetentionConfig(dg.Config):
    keep_per_branch: int | None = Field(
        default=None,
        ge=0,
        description="Deployments kept per project and branch, newest first "
        "(default: DP_RETAIN_PER_BRANCH, else 10).",
    )
    keep_days: float | None = Field(
        default=None,
        ge=0,
        description="Keep everything younger than this many days "
        "(default: DP_RETAIN_DAYS, else 30).",
    )
    dry_run: bool = Field(default=False, description="Show what would go; remove nothing.")


def _policy(config: RetentionConfig) -> RetentionPolicy:
    try:
        settings = RetentionPolicy.from_env(os.environ)
    except ValueError as exc:
        raise dg.Failure(description=f"bad retention setting: {exc}") from None
    return settings.with_overrides(config.keep_per_branch, config.keep_days)


@dg.op(
    description=(
        "Removes the deployments the retention policy lets go (partition, runs, source, "
        "artifact, manifest, record; their history rows are archived first), then the file "
        "bodies no remaining manifest references. Aliased, young and unfinished deployments stay."
    )
)
def collect_garbage_op(
    context: dg.OpExecutionContext,
    config: RetentionConfig,
    object_store: ObjectStoreResource,
    redis: RedisResource,
) -> dg.Output[None]:
    report = collect_with_history(
        context.instance,
        object_store.store(),
        redis.state(),
        _policy(config),
        dry_run=config.dry_run,
    )
    for line in format_report(report):
        context.log.info(line)
    return dg.Output(
        None,
        metadata={
            "dry_run": config.dry_run,
            "deployments_removed": len(report.removed),
            "deployment_ids": ", ".join(r.id for r in report.removed) or "none",
            "deployment_bytes": report.deployment_bytes,
            "bodies_removed": report.bodies,
            "body_bytes": report.body_bytes,
            "deployments_kept": len(report.kept),
            "sweep_deferred": report.sweep_deferred or "no",
        },
    )


@dg.job(
    name="retention",
    description="The retention policy (`deploy-platform gc`): old deployments and unreferenced "
    "file bodies go.",
    executor_def=dg.in_process_executor,
    tags={"deploy/kind": "retention"},
)
def retention_job() -> None:
    collect_garbage_op()


retention_schedule = dg.ScheduleDefinition(
    name="retention_schedule",
    job=retention_job,
    cron_schedule=RETENTION_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Applies the retention policy every day at 03:17 UTC.",
)
