"""The retention policy as a Dagster job on a real instance: what `deploy-platform gc`
removes, removed by the `retention` job that `retention_schedule` runs daily."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from deploy_platform.history.archive import ARCHIVE_PREFIX
from deploy_platform.orchestration.jobs.retention import (
    RETENTION_CRON,
    retention_job,
    retention_schedule,
)
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, unique
from tests.orchestration.test_retention_records import deployed, history
from tests.support.environment import PlatformEnv


def run_retention(
    instance: dg.DagsterInstance, resources: dict[str, Any], **config: Any
) -> dg.ExecuteInProcessResult:
    job = dg.Definitions(
        jobs=[retention_job],
        resources={"object_store": resources["object_store"], "redis": resources["redis"]},
    ).resolve_job_def("retention")
    return job.execute_in_process(
        instance=instance,
        run_config={"ops": {"collect_garbage_op": {"config": config}}},
        raise_on_error=False,
    )


def output_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return {
        name: entry.value
        for name, entry in output.event_specific_data.metadata.items()  # type: ignore[union-attr]
    }


def test_the_retention_job_removes_what_gc_would_and_archives_their_history(
    deployer: Deployer,
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
    platform_env: PlatformEnv,
) -> None:
    platform_env.set(DP_EDGE_SKEW_GRACE_SECONDS="0")
    project = unique("sched")
    oldest, old, previous, newest = (
        deployed(deployer, state, store, tmp_path, project, n) for n in range(4)
    )

    result = run_retention(instance, resources, keep_per_branch=1)

    assert result.success
    metadata = output_metadata(result)
    assert metadata["deployments_removed"] == 2
    assert set(str(metadata["deployment_ids"]).split(", ")) == {oldest.id, old.id}
    assert metadata["dry_run"] is False
    for gone in (oldest, old):
        assert state.find(gone.id) is None
        assert history(instance, gone.id) == (False, 0, 0)
    # The alias and its rollback target stay.
    for kept in (previous, newest):
        assert history(instance, kept.id) == (True, 1, 1)
    assert state.get_alias(project) == newest.id
    archived = b"".join(store.get_bytes(info.key) for info in store.list(ARCHIVE_PREFIX))
    assert oldest.id.encode() in archived and old.id.encode() in archived


def test_a_dry_run_from_the_launchpad_removes_nothing_and_says_what_would_go(
    deployer: Deployer,
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
    platform_env: PlatformEnv,
) -> None:
    platform_env.set(DP_EDGE_SKEW_GRACE_SECONDS="0")
    project = unique("dry")
    records = [deployed(deployer, state, store, tmp_path, project, n) for n in range(3)]

    result = run_retention(instance, resources, keep_per_branch=0, keep_days=0, dry_run=True)

    assert result.success
    metadata = output_metadata(result)
    assert metadata["dry_run"] is True
    assert metadata["deployment_ids"] == records[0].id
    assert all(history(instance, r.id) == (True, 1, 1) for r in records)
    assert all(state.find(r.id) is not None for r in records)


def test_a_bad_setting_fails_the_run_saying_which(
    instance: dg.DagsterInstance, resources: dict[str, Any], platform_env: PlatformEnv
) -> None:
    platform_env.set(DP_RETAIN_DAYS="soon")

    result = run_retention(instance, resources)

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "DP_RETAIN_DAYS='soon' must be a number of 0 or more" in str(
        failure.step_failure_data.error  # type: ignore[union-attr]
    )


def test_a_negative_keep_from_the_launchpad_is_refused(
    instance: dg.DagsterInstance, resources: dict[str, Any]
) -> None:
    result = run_retention(instance, resources, keep_per_branch=-1)

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = str(failure.step_failure_data.error)  # type: ignore[union-attr]
    assert "keep_per_branch" in error and "greater than or equal to 0" in error


def test_the_schedule_runs_the_job_daily_and_is_on() -> None:
    assert retention_schedule.cron_schedule == RETENTION_CRON == "17 3 * * *"
    assert retention_schedule.execution_timezone == "UTC"
    assert retention_schedule.default_status is dg.DefaultScheduleStatus.RUNNING
    assert retention_schedule.job_name == "retention"
    [request] = retention_schedule.evaluate_tick(dg.build_schedule_context()).run_requests or []
    assert isinstance(request, dg.RunRequest)
