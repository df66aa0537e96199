"""The history of deployments that really ran matches what happened to them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import dagster as dg
import pandas as pd

from deploy_platform.contracts.manifest import artifact_key, source_key
from deploy_platform.contracts.records import DeploymentRecord, Status
from deploy_platform.orchestration.assets import (
    built_artifact,
    published_deployment,
    source_archive,
)
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, read_manifest, unique

Rows = Callable[[], dict[str, dict[str, Any]]]


def sha256_of(store: ObjectStore, key: str) -> str:
    return hashlib.sha256(store.get_bytes(key)).hexdigest()


def latest_storage_id(instance: dg.DagsterInstance, asset: dg.AssetsDefinition, dep: str) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset.key, asset_partitions=[dep]), limit=1
    ).records
    return records[0].storage_id


def test_a_successful_deployment_row_says_what_happened_with_its_lineage(
    deploy_app: Callable[..., DeploymentRecord],
    history_rows: Rows,
    state: PlatformState,
    store: ObjectStore,
    instance: dg.DagsterInstance,
) -> None:
    record = deploy_app(ref="feature/login")

    row = history_rows()[record.id]

    done = state.get(record.id)
    assert done.status is Status.READY
    assert row["status"] == "ready" and row["trigger"] == "api"
    assert (row["project"], row["branch"], row["commit"]) == (
        record.project,
        "feature/login",
        record.commit,
    )
    assert row["environment"] == "production"  # make_record's default
    assert row["files"] == done.files == len(read_manifest(store, record.id).files)
    assert row["bytes"] == done.bytes_total and row["bytes_reused"] == done.bytes_reused
    assert row["url"] == record.urls["deployment"]
    assert row["framework"] == "static" and row["runs"] == 1 and not row["archived"]
    # Enqueued is the record's queued time (the run tag keeps milliseconds).
    assert abs(row["enqueued"] - done.timestamps["queued"]) < 0.001
    assert row["started"] >= row["enqueued"] and row["finished"] >= row["started"]
    assert row["queued_s"] == round(row["started"] - row["enqueued"], 3)
    for stage in ("clone_s", "install_s", "build_s", "publish_s"):
        assert row[stage] >= 0
    # Lineage: the storage ids Dagster holds, and content versions of the stored archives.
    assert row["source_storage_id"] == latest_storage_id(instance, source_archive, record.id)
    assert row["artifact_storage_id"] == latest_storage_id(instance, built_artifact, record.id)
    assert row["published_storage_id"] == latest_storage_id(
        instance, published_deployment, record.id
    )
    assert row["artifact_source_storage_id"] == row["source_storage_id"]
    assert row["published_artifact_storage_id"] == row["artifact_storage_id"]
    assert row["source_data_version"] == sha256_of(store, source_key(record.id))
    assert row["artifact_data_version"] == sha256_of(store, artifact_key(record.id))
    assert row["artifact_source_data_version"] == row["source_data_version"]
    assert row["published_artifact_data_version"] == row["artifact_data_version"]


def test_a_failed_deployment_row_names_the_stage_and_the_error(
    deploy_app: Callable[..., DeploymentRecord], history_rows: Rows, state: PlatformState
) -> None:
    record = deploy_app({".env": "nothing that is ever published"})

    row = history_rows()[record.id]

    assert state.get(record.id).status is Status.FAILED
    assert row["status"] == "failed" and row["failed_stage"] == "built_artifact"
    assert "nothing to publish" in row["error"]
    assert row["clone_s"] >= 0 and row["build_s"] >= 0
    assert all(pd.isna(row[name]) for name in ("install_s", "publish_s", "files", "url"))
    assert row["source_storage_id"] > 0
    assert pd.isna(row["artifact_storage_id"]) and pd.isna(row["published_storage_id"])


def test_rematerialized_from_the_ui_the_row_follows_the_new_run(
    deploy_app: Callable[..., DeploymentRecord],
    deployer: Deployer,
    history_rows: Rows,
    instance: dg.DagsterInstance,
) -> None:
    record = deploy_app()
    before = history_rows()[record.id]

    # As a person does from the UI: the whole partition, no queue sensor tags.
    assert deployer.materialize(record.id).success

    after = history_rows()[record.id]
    assert after["trigger"] == "ui-rematerialization" and after["status"] == "ready"
    assert after["runs"] == 2 and after["run_id"] != before["run_id"]
    assert after["source_storage_id"] > before["published_storage_id"]
    assert after["artifact_source_storage_id"] == after["source_storage_id"]
    # The same commit packs to the same bytes: the content versions do not change.
    assert after["source_data_version"] == before["source_data_version"]
    assert after["published_data_version"] == before["published_data_version"]
    # The run started by hand got the labels to filter by in the UI's run list.
    run = instance.get_run_by_id(after["run_id"])
    assert run is not None
    assert run.tags["deploy/project"] == record.project
    assert run.tags["deploy/commit"] == record.commit
    assert "deploy/trigger" not in run.tags


def test_history_holds_every_deployment_and_a_later_one_is_read_incrementally(
    deploy_app: Callable[..., DeploymentRecord], history_rows: Rows
) -> None:
    project = unique("docs")
    first = deploy_app(project=project)
    assert set(history_rows()) == {first.id}
    second = deploy_app(project=project)

    rows = history_rows()

    assert set(rows) == {first.id, second.id}
    assert rows[second.id]["enqueued"] > rows[first.id]["enqueued"]
