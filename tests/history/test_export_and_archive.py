"""The export reads only what is new; archived rows outlive Dagster's records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from deploy_platform import cli
from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.history.archive import ARCHIVE_PREFIX, archive_rows
from deploy_platform.history.export import export_path, load_export, refreshed_export
from deploy_platform.history.service import HistoryService
from deploy_platform.orchestration.instance.home import write_dagster_home
from deploy_platform.processes.private_redis import REDIS_URL_FILE
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, queue_git, unique
from tests.support.environment import PlatformEnv

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


def test_gc_keeps_the_history_rows_of_what_it_removes(
    tmp_path: Path,
    platform_env: PlatformEnv,
    git_http: Any,
    redis_server: RedisServer,
    state: PlatformState,
    resources: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`deploy-platform gc` beside `up`: its DAGSTER_HOME, object directory and Redis."""
    platform_env.clear()
    platform_env.set(DP_REDIS_PREFIX=state.prefix)
    # Only the live deployment and the one before it stay (no skew-protection grace).
    platform_env.set(DP_EDGE_SKEW_GRACE_SECONDS="0")
    write_dagster_home(tmp_path / "dagster")
    (tmp_path / REDIS_URL_FILE).parent.mkdir()
    (tmp_path / REDIS_URL_FILE).write_text(redis_server.url + "\n")
    store = LocalObjectStore(tmp_path / "objects")  # where `resources` store (local_store_root)
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        deployer = Deployer(instance, resources)
        repo = git_http.create_repo(unique("site"), {"index.html": "<h1>one</h1>"})
        project = unique("docs")
        records = []
        for text in ("one", "two", "three"):
            repo.commit({"index.html": f"<h1>{text}</h1>"})
            records.append(queue_git(state, repo, project))
            assert deployer.run(records[-1].id).success
        oldest = records[0]
        before = HistoryService(instance, store).frame().set_index("id").loc[oldest.id]

        code = cli.main(["gc", "--keep", "0", "--days", "0", "--state-dir", str(tmp_path)])
        out, _ = capsys.readouterr()

        assert code == 0 and "Removed 1 deployment" in out and oldest.id in out
        assert instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": oldest.id})) == []
        export_path(instance).unlink()  # read Dagster from scratch: only the archive has it
        rows = HistoryService(instance, store).frame().set_index("id")
    assert set(rows.index) == {record.id for record in records}
    assert bool(rows.loc[oldest.id, "archived"]) and not rows.loc[records[1].id, "archived"]
    for column in ("status", "commit", "files", "published_storage_id"):
        assert rows.loc[oldest.id, column] == before[column]


def test_the_archive_and_move_log_are_listed_when_due_not_on_every_query(
    instance: dg.DagsterInstance, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    listings: list[int] = []

    def moves() -> list[dict[str, Any]]:
        listings.append(1)
        return []

    service = HistoryService(instance, store, alias_moves=moves)
    service.frame()
    service.frame()
    assert len(listings) == 1

    service.store_changed()  # what the control API says after a rollback or promote
    service.frame()
    assert len(listings) == 2

    monkeypatch.setattr("deploy_platform.history.service.STORE_REFRESH_SECONDS", 0.0)
    service.frame()
    assert len(listings) == 3
