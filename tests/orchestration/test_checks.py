"""The asset checks on published_deployment, against a real edge-origin and object store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from deploy_platform.contracts.manifest import blob_key
from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.orchestration.resources.edge_origin import EdgeOriginResource
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, queue_git, read_manifest, unique
from tests.support.edge_process import EdgeProcess, serve_process

SITE = {"index.html": "<h1>checked</h1>", "css/site.css": "body { color: teal }"}


@pytest.fixture
def edge(
    local_store_root: Path, redis_server: RedisServer, state: PlatformState
) -> Iterator[EdgeProcess]:
    """The real edge-origin (`python -m serve`) over the test's store and Redis."""
    with serve_process(local_store_root, redis_server.url, state.prefix) as process:
        yield process


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def deploy_checked(deployer: Deployer, deployment_id: str) -> dg.ExecuteInProcessResult:
    """Deploy, then check as deployment_checks_sensor does after a successful deploy run."""
    assert deployer.run(deployment_id).success
    return deployer.check(deployment_id)


def deployer_with_edge(deployer: Deployer, url: str) -> Deployer:
    resources: dict[str, Any] = {**deployer.resources, "edge_origin": EdgeOriginResource(url=url)}
    return Deployer(deployer.instance, resources)


@pytest.fixture
def deployed(git_http: Any, deployer: Deployer, state: PlatformState) -> DeploymentRecord:
    record = queue_git(state, git_http.create_repo(unique("site"), SITE), unique("checked"))
    return record


def test_both_checks_pass_on_a_good_deployment(
    deployed: DeploymentRecord, deployer: Deployer, edge: EdgeProcess
) -> None:
    result = deploy_checked(
        deployer_with_edge(deployer, f"http://127.0.0.1:{edge.port}"), deployed.id
    )

    assert result.success
    checks = checks_of(result)
    assert checks["index_served"].passed, checks["index_served"].description
    assert checks["index_served"].metadata["status"].value == 200
    assert checks["index_served"].metadata["host"].value == f"{deployed.id}.localhost"
    assert checks["bodies_stored"].passed
    assert checks["bodies_stored"].metadata["missing"].value == 0
    assert checks["bodies_stored"].metadata["files"].value == 2


def test_a_deleted_body_fails_bodies_stored_naming_the_file(
    deployed: DeploymentRecord, deployer: Deployer, edge: EdgeProcess, store: ObjectStore
) -> None:
    checked = deployer_with_edge(deployer, f"http://127.0.0.1:{edge.port}")
    assert checked.run(deployed.id).success
    css = read_manifest(store, deployed.id).files["/css/site.css"]
    store.delete(blob_key(css.blob))

    result = checked.check(deployed.id)

    assert result.success  # a failed check reports; it does not fail the run
    failed = checks_of(result)["bodies_stored"]
    assert not failed.passed and failed.severity is dg.AssetCheckSeverity.ERROR
    assert "/css/site.css" in (failed.description or "")
    assert failed.metadata["missing"].value == 1
    assert checks_of(result)["index_served"].passed
    # The failure is stored with the asset, where the UI shows it.
    key = dg.AssetCheckKey(dg.AssetKey("published_deployment"), "bodies_stored")
    record = deployer.instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(
        key
    )
    assert record is not None and record.evaluation is not None
    assert not record.evaluation.passed


def test_an_edge_origin_that_does_not_serve_it_fails_index_served(
    deployed: DeploymentRecord,
    deployer: Deployer,
    redis_server: RedisServer,
    state: PlatformState,
    tmp_path: Path,
) -> None:
    other_store = tmp_path / "another-store"
    other_store.mkdir()
    with serve_process(other_store, redis_server.url, state.prefix) as elsewhere:
        result = deploy_checked(
            deployer_with_edge(deployer, f"http://127.0.0.1:{elsewhere.port}"), deployed.id
        )

    assert result.success
    failed = checks_of(result)["index_served"]
    assert not failed.passed and failed.severity is dg.AssetCheckSeverity.ERROR
    assert "answered 404" in (failed.description or "")
    assert checks_of(result)["bodies_stored"].passed


def test_without_an_edge_origin_url_index_served_fails_saying_so(
    deployed: DeploymentRecord, deployer: Deployer
) -> None:
    result = deploy_checked(deployer, deployed.id)

    assert result.success
    failed = checks_of(result)["index_served"]
    assert not failed.passed and "DP_EDGE_ORIGIN_URL" in (failed.description or "")


def test_a_site_without_index_html_passes_index_served_as_not_applicable(
    git_http: Any, deployer: Deployer, state: PlatformState, edge: EdgeProcess
) -> None:
    site = {"guide.html": "<h1>no front page</h1>"}
    record = queue_git(state, git_http.create_repo(unique("noindex"), site), unique("noindex"))

    result = deploy_checked(
        deployer_with_edge(deployer, f"http://127.0.0.1:{edge.port}"), record.id
    )

    assert result.success
    check = checks_of(result)["index_served"]
    assert check.passed
    assert check.description is not None
    assert check.description.startswith("not applicable: the site has no index.html")
    assert checks_of(result)["bodies_stored"].passed
