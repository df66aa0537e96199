"""GET /api/deployments/{id}, /api/health, token auth and the JSON shape of every error."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.api import StartupError, create_app
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.retention.collect import collect_garbage
from deploy_platform.retention.policy import RetentionPolicy
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.api.conftest import ApiClientFactory
from tests.api.test_refusals import refused
from tests.api.test_uploads import GZIP, SITE, tar_gz
from tests.retention.support import make_deployment
from tests.support.api_fixtures import assert_nothing_accepted, queued_ids

TOKEN = "s3cret-token-for-tests"


def stored_record(state: PlatformState) -> DeploymentRecord:
    record = DeploymentRecord(
        id=new_deployment_id(),
        project="docs",
        source=SourceKind.GIT,
        environment=Environment.PRODUCTION,
        repo_url="https://example.com/owner/docs.git",
        ref="main",
        commit="a" * 40,
        aliases=("docs",),
        urls={
            "deployment": "http://x.localhost:8080/",
            "production": "http://docs.localhost:8080/",
        },
    )
    state.create(record)
    return record


async def test_the_record_is_answered_with_times_and_durations(
    api: TestClient[Any, Any], state: PlatformState
) -> None:
    record = stored_record(state)
    queued_at = state.get(record.id).timestamps["queued"]
    for offset, status in enumerate((Status.CLONING, Status.BUILDING, Status.PUBLISHING), 1):
        state.set_status(record.id, status, at=queued_at + offset)
    state.set_status(
        record.id,
        Status.READY,
        at=queued_at + 5,
        files=3,
        bytes_total=300,
        files_uploaded=1,
        bytes_uploaded=100,
        files_reused=2,
        bytes_reused=200,
    )

    response = await api.get(f"/api/deployments/{record.id}")

    assert response.status == 200
    body = await response.json()
    assert body["id"] == record.id
    assert body["status"] == "ready"
    assert body["commit"] == "a" * 40
    assert body["urls"] == record.urls
    assert set(body["times"]) == {"queued", "cloning", "building", "publishing", "ready"}
    assert body["durations"]["total"] == 5.0
    assert body["durations"]["building"] == 1.0
    assert (body["files_uploaded"], body["files_reused"]) == (1, 2)


async def test_an_unknown_deployment_is_404(api: TestClient[Any, Any]) -> None:
    response = await api.get(f"/api/deployments/{new_deployment_id()}")

    await refused(response, 404, "deployment_not_found", "id")


async def test_a_deployment_gc_removed_is_410_saying_where_its_history_is(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    old = make_deployment(store, state, "docs", {"/index.html": b"<h1>old</h1>"}, days_ago=60)
    make_deployment(store, state, "docs", {"/index.html": b"<h1>new</h1>"}, days_ago=50)
    policy = RetentionPolicy(keep_per_branch=1, keep_days=30)
    report = collect_garbage(store, state, policy, dry_run=False)
    assert [r.id for r in report.removed] == [old.id]

    response = await api.get(f"/api/deployments/{old.id}")

    body = await refused(response, 410, "deployment_removed", "id")
    assert "deploy-platform history --project docs" in body["message"]


@pytest.mark.parametrize(
    "bad_id", ["NOTANID12345", "short2", "abcdefghijkl", "docs", "has%20space22"]
)
async def test_a_malformed_deployment_id_is_400(api: TestClient[Any, Any], bad_id: str) -> None:
    response = await api.get(f"/api/deployments/{bad_id}")

    await refused(response, 400, "invalid_id", "id")


async def test_unknown_routes_and_methods_answer_json(api: TestClient[Any, Any]) -> None:
    await refused(await api.get("/nowhere"), 404, "not_found")
    await refused(await api.get("/api/deployments/abc/extra"), 404, "not_found")
    response = await api.delete("/api/deployments")
    await refused(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"] and "GET" in response.headers["Allow"]
    await refused(
        await api.delete(f"/api/deployments/{new_deployment_id()}"), 405, "method_not_allowed"
    )


async def test_health_reports_redis_and_storage(api: TestClient[Any, Any]) -> None:
    response = await api.get("/api/health")

    assert response.status == 200
    body = await response.json()
    assert body["ok"] is True
    assert body["redis"] == "ok" and body["storage"] == "ok"


@pytest.fixture
async def api_with_token(api_for: ApiClientFactory, settings: Settings) -> TestClient[Any, Any]:
    """The API with DP_API_TOKEN set."""
    return await api_for(dataclasses.replace(settings, api_token=TOKEN))


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"bearer  {TOKEN[:-1]}"],
)
async def test_with_a_token_set_every_route_but_health_needs_it(
    api_with_token: TestClient[Any, Any],
    state: PlatformState,
    local_store_root: Path,
    header: str | None,
) -> None:
    headers = {} if header is None else {"Authorization": header}
    record = stored_record(state)

    post = await api_with_token.post(
        "/api/deployments",
        json={"repo_url": "https://example.com/o/s.git", "project": "docs"},
        headers=headers,
    )
    upload = await api_with_token.post(
        "/api/deployments?project=docs", data=tar_gz(SITE), headers={**GZIP, **headers}
    )
    get = await api_with_token.get(f"/api/deployments/{record.id}", headers=headers)
    health = await api_with_token.get("/api/health", headers=headers)

    for response in (post, upload, get):
        await refused(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert health.status == 200
    assert queued_ids(state) == []
    assert not (local_store_root / "sources").exists()


async def test_the_right_token_is_let_through(
    api_with_token: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    record = stored_record(state)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    get = await api_with_token.get(f"/api/deployments/{record.id}", headers=auth)
    upload = await api_with_token.post(
        "/api/deployments?project=docs", data=tar_gz(SITE), headers={**GZIP, **auth}
    )

    assert get.status == 200
    assert upload.status == 202, await upload.text()
    assert queued_ids(state) == [(await upload.json())["id"]]


async def test_without_a_token_set_no_header_is_needed(
    api: TestClient[Any, Any], state: PlatformState
) -> None:
    record = stored_record(state)

    response = await api.get(f"/api/deployments/{record.id}")

    assert response.status == 200


def test_a_bad_allow_list_entry_fails_at_start_up(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(StartupError, match="DP_GIT_ALLOW_HOSTS"):
        create_app(make_settings(git_allow_hosts=("not a host!",)))


async def test_an_unexpected_error_is_a_generic_500(
    api_for: ApiClientFactory,
    make_settings: Callable[..., Settings],
    state: PlatformState,
    local_store_root: Path,
    tmp_path: Path,
) -> None:
    # A state directory that is a file: the upload scratch space cannot be made.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    api = await api_for(make_settings(state_dir=blocker))

    response = await api.post("/api/deployments?project=docs", data=tar_gz(SITE), headers=GZIP)

    error = await refused(response, 500, "internal_error")
    assert "not-a-directory" not in error["message"]
    assert_nothing_accepted(state, local_store_root)
