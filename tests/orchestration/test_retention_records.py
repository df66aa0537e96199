"""Retention on a real Dagster instance: a removed deployment's partition, runs and
materializations go; a kept one's stay; one with a run going on is kept."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from deploy_platform.contracts.records import DeploymentRecord, Status
from deploy_platform.orchestration.jobs.purge import DagsterRecords
from deploy_platform.retention.collect import collect_garbage
from deploy_platform.retention.policy import RetentionPolicy
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, pack_site, queue_upload, unique

DAY = 86400.0


def deployed(
    deployer: Deployer, state: PlatformState, store: ObjectStore, tmp: Path, project: str, n: int
) -> DeploymentRecord:
    record = queue_upload(state, store, project, pack_site(tmp, {"index.html": f"<h1>{n}</h1>"}))
    assert deployer.run(record.id).success
    # As if it had been queued n + 60 days ago (newest last).
    return state.update(
        record.id,
        lambda r: r.replace(timestamps={k: v - (70 - n) * DAY for k, v in r.timestamps.items()}),
    )


def history(instance: dg.DagsterInstance, deployment_id: str) -> tuple[bool, int, int]:
    """(is a partition, runs of it, materializations of published_deployment for it)."""
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": deployment_id}))
    materialized = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("published_deployment"), asset_partitions=[deployment_id]
        ),
        limit=10,
    )
    partition = deployment_id in instance.get_dynamic_partitions("deployments")
    return partition, len(runs), len(materialized.records)


def test_gc_removes_the_dagster_history_of_removed_deployments_only(
    deployer: Deployer,
    instance: dg.DagsterInstance,
    state: PlatformState,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    project = unique("ret")
    oldest, busy, old, previous, newest = (
        deployed(deployer, state, store, tmp_path, project, n) for n in range(5)
    )
    # A re-materialization of `busy` from the UI, still running.
    instance.add_run(
        dg.DagsterRun(
            job_name="deploy",
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": busy.id},
        )
    )
    assert all(history(instance, r.id) == (True, 1, 1) for r in (oldest, old, newest))

    report = collect_garbage(
        store,
        state,
        # No skew grace: only the alias, its previous deployment and the run keep any.
        RetentionPolicy(keep_per_branch=1, keep_days=30, skew_grace_seconds=0),
        dry_run=False,
        runs=DagsterRecords(instance),
    )

    assert sorted(r.id for r in report.removed) == sorted([oldest.id, old.id])
    assert history(instance, oldest.id) == history(instance, old.id) == (False, 0, 0)
    assert history(instance, newest.id) == history(instance, previous.id) == (True, 1, 1)
    assert history(instance, busy.id) == (True, 2, 1)
    kept = {d.record.id: d.reasons for d in report.kept}
    assert kept[busy.id] == ("a Dagster run of it is going on",)
    assert state.get(busy.id).status is Status.READY
