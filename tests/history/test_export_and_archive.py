"""The export reads only what is new; archived rows outlive Dagster's records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

from deploy_platform.history.archive import ARCHIVE_PREFIX, archive_rows
from deploy_platform.history.export import export_path, load_export, refreshed_export
from deploy_platform.records import DeploymentRecord
from deploy_platform.storage import ObjectStore

Rows = Callable[[], dict[str, dict[str, Any]]]


def test_a_refresh_reads_only_the_deployments_that_changed_and_survives_a_restart(
    deploy_app: Callable[..., DeploymentRecord], instance: dg.DagsterInstance
) -> None:
    first = deploy_app()
    export, changed = refreshed_export(instance)
    assert changed == {first.id}
    assert export.refresh(instance) == set()  # nothing new

    second = deploy_app()
    assert export.refresh(instance) == {second.id}

    # What was saved (as a restarted API finds it) picks up where it stopped.
    saved = load_export(export_path(instance))
    assert set(saved.deployments) == {first.id}
    assert saved.refresh(instance) == {second.id}
    assert saved.to_dict() == export.to_dict()


def test_archived_rows_stay_in_the_history_after_dagster_forgets_the_deployment(
    deploy_app: Callable[..., DeploymentRecord],
    instance: dg.DagsterInstance,
    store: ObjectStore,
    history_rows: Rows,
) -> None:
    old = deploy_app()
    kept = deploy_app(project=old.project)
    before = history_rows()[old.id]

    assert archive_rows(instance, store, [old.id, "nosuchdeploy"]) == 1
    assert [info.key.startswith(ARCHIVE_PREFIX) for info in store.list(ARCHIVE_PREFIX)] == [True]
    # Retention then deletes its runs (and with them their events and materializations).
    for record in instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": old.id})):
        instance.delete_run(record.dagster_run.run_id)
    export_path(instance).unlink()  # and a fresh API reads Dagster from scratch
    gone = dg.AssetRecordsFilter(asset_key=dg.AssetKey("source_archive"), asset_partitions=[old.id])
    assert instance.fetch_materializations(gone, limit=1).records == []

    rows = history_rows()

    assert set(rows) == {old.id, kept.id}
    archived = rows[old.id]
    assert archived["archived"] and not rows[kept.id]["archived"]
    for column in ("status", "commit", "files", "source_storage_id", "published_data_version"):
        assert archived[column] == before[column]
