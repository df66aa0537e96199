"""Retention's Dagster side: a removed deployment's partition, runs and materializations.

`deploy_platform.retention` decides and removes what lives in the object store
and Redis without importing dagster; this is the `RunRecords` it is handed, over
a `DagsterInstance`, through the instance's public API only:
  - busy: runs of the partition not finished (queued, starting, running) keep it;
  - delete: every run tagged with the partition (`delete_run` takes its event
    log, so its materializations and logs go with it), then the dynamic
    partition itself (the UI stops listing it). `wipe_asset_partitions` is not
    used: open-source event log storages (SQLite, PostgreSQL) refuse it, and
    the materializations went with their runs.
`collect_with_history` is `collect_garbage` over an instance, as `deploy-platform gc`
and the daily `retention` job run it: its runs decide what is busy and go with the
removed deployments, whose history rows are archived in the store first.
`open_instance` opens the instance `deploy-platform up` runs, for commands run
beside it (`deploy-platform gc`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

from deploy_platform.history.archive import archive_rows
from deploy_platform.orchestration.assets.partitions import DEPLOYMENTS
from deploy_platform.retention.collect import GcReport, collect_garbage
from deploy_platform.retention.policy import RetentionPolicy
from deploy_platform.settings.instance import POSTGRES_URL_VARIABLE, with_sqlalchemy_url
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["DagsterRecords", "collect_with_history", "open_instance"]

_PARTITION_TAG = "dagster/partition"


class DagsterRecords:
    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance

    def busy(self, deployment_ids: Sequence[str]) -> set[str]:
        wanted = set(deployment_ids)
        unfinished = self.instance.get_runs(dg.RunsFilter(statuses=list(NOT_FINISHED_STATUSES)))
        partitions = (run.tags.get(_PARTITION_TAG) for run in unfinished)
        return {key for key in partitions if key in wanted}

    def delete(self, deployment_ids: Sequence[str]) -> None:
        for deployment_id in deployment_ids:
            for record in self.instance.get_run_records(
                dg.RunsFilter(tags={_PARTITION_TAG: deployment_id})
            ):
                self.instance.delete_run(record.dagster_run.run_id)
        for deployment_id in deployment_ids:
            self.instance.delete_dynamic_partition(DEPLOYMENTS, deployment_id)


def collect_with_history(
    instance: dg.DagsterInstance,
    store: ObjectStore,
    state: PlatformState,
    policy: RetentionPolicy,
    *,
    dry_run: bool,
) -> GcReport:
    def archive(deployment_ids: Sequence[str]) -> None:
        # The Dagster history rows go with the runs: kept in the store first, so
        # `deploy-platform history` still lists them (marked archived).
        archive_rows(instance, store, deployment_ids)

    return collect_garbage(
        store,
        state,
        policy,
        dry_run=dry_run,
        runs=DagsterRecords(instance),
        before_delete=archive,
    )


def open_instance(state_dir: Path, env: Mapping[str, str] | None = None) -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME, else `<state>/dagster` (what `up` writes)."""
    env = os.environ if env is None else env
    home = Path(env.get("DAGSTER_HOME") or state_dir / "dagster")
    if not (home / "dagster.yaml").is_file():
        raise FileNotFoundError(
            f"no Dagster instance at {home} (no dagster.yaml): start `deploy-platform up` "
            "once with this state directory, or set DAGSTER_HOME"
        )
    # dagster.yaml names DP_DAGSTER_POSTGRES_URL; it must be in the form `up` hands on.
    url = with_sqlalchemy_url(env).get(POSTGRES_URL_VARIABLE)
    if url:
        os.environ[POSTGRES_URL_VARIABLE] = url
    return dg.DagsterInstance.from_config(str(home))
