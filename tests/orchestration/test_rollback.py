"""Re-materializing an older partition by hand rolls production back, on a real Dagster
instance, real Redis, a local store and real git; queued deploys only ever move forward."""

from __future__ import annotations

from pathlib import Path

from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.orchestration.assets import published_deployment
from deploy_platform.orchestration.assets.run_origin import BACKFILL_TAG, TRIGGER_TAG
from deploy_platform.orchestration.sensors.queue_sensor import run_tags
from deploy_platform.publish.alias_moves import list_moves
from deploy_platform.publish.aliases import read_alias
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, pack_site, queue_upload, served_text, unique


def deploy(
    deployer: Deployer, state: PlatformState, store: ObjectStore, tmp: Path, project: str, text: str
) -> DeploymentRecord:
    """A production deployment of `project` serving `text`, run as the queue sensor runs it."""
    record = queue_upload(state, store, project, pack_site(tmp, {"index.html": text}))
    result = deployer.run(record.id)
    assert result.success, state.get(record.id).error
    return record


def test_materializing_an_older_partition_by_hand_moves_production_back(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("docs")
    v1 = deploy(deployer, state, store, tmp_path, project, "<h1>v1</h1>")
    v2 = deploy(deployer, state, store, tmp_path, project, "<h1>v2</h1>")
    assert read_alias(store, project) == v2.id

    # What "Materialize" on partition v1 in the UI runs: no queue-sensor tags.
    result = deployer.materialize(v1.id, [published_deployment])

    assert result.success
    assert read_alias(store, project) == v1.id and state.get_alias(project) == v1.id
    assert served_text(store, read_alias(store, project) or "", "/index.html") == "<h1>v1</h1>"
    record = state.get(v1.id)
    assert record.status is Status.READY and record.trigger == "ui-rematerialization"
    assert state.get(v2.id).trigger == "api"
    newest = list_moves(store, project)[0]
    assert (newest.from_deployment, newest.to_deployment) == (v2.id, v1.id)
    assert (newest.reason, newest.actor) == ("ui-rematerialization", f"dagster-ui:{result.run_id}")
    # The queued deploys were logged as deploys, by their runs.
    assert [m.reason for m in list_moves(store, project)[1:]] == ["deploy", "deploy"]
    assert all(m.actor.startswith("dagster:") for m in list_moves(store, project)[1:])


def test_a_queued_deploy_run_again_does_not_take_production_back(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("docs")
    v1 = deploy(deployer, state, store, tmp_path, project, "<h1>v1</h1>")
    v2 = deploy(deployer, state, store, tmp_path, project, "<h1>v2</h1>")

    # A re-execution or retry of v1's queued run carries the sensor's tags.
    assert deployer.run(v1.id).success
    # A backfill over partitions names no single deployment to go back to.
    assert deployer.materialize(v1.id, tags={BACKFILL_TAG: "bf1"}).success

    assert read_alias(store, project) == v2.id
    assert state.get(v1.id).trigger == "api"
    assert len(list_moves(store, project)) == 2


def test_a_deploy_queued_before_a_ui_rollback_does_not_undo_it(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("docs")
    v1 = deploy(deployer, state, store, tmp_path, project, "<h1>v1</h1>")
    deploy(deployer, state, store, tmp_path, project, "<h1>v2 broken</h1>")
    in_flight = queue_upload(state, store, project, pack_site(tmp_path, {"index.html": "v3"}))
    assert deployer.materialize(v1.id, [published_deployment]).success  # the rollback

    result = deployer.run(in_flight.id)

    assert result.success and state.get(in_flight.id).status is Status.READY
    assert read_alias(store, project) == v1.id
    # The next push deploys as usual (a `git revert` on main, for instance).
    fix = deploy(deployer, state, store, tmp_path, project, "<h1>v4 fixed</h1>")
    assert read_alias(store, project) == fix.id


def test_the_queue_sensors_runs_carry_the_tag_that_tells_them_apart() -> None:
    record = DeploymentRecord(
        id="abcdefghij23", project="docs", source=SourceKind.UPLOAD, environment=Environment.PREVIEW
    )
    assert run_tags(record)[TRIGGER_TAG] == "api"
