"""POST /api/deployments from a git URL: the 202 answer, the stored record, the queue."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from deploy_platform.contracts.records import Environment, SourceKind, Status
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import queued_ids, record_ids, unique_name

SITE = {"index.html": "<h1>hello</h1>\n", "style.css": "body { color: red }\n"}


async def test_production_deploy_pins_the_branch_head_and_queues_it(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("docs-site"), SITE)

    response = await api.post(
        "/api/deployments", json={"repo_url": repo.url, "ref": "main", "project": "docs"}
    )

    assert response.status == 202, await response.text()
    body = await response.json()
    deployment_id = body["id"]
    assert response.headers["Location"] == f"/api/deployments/{deployment_id}"
    assert body["status"] == "queued"
    assert body["commit"] == repo.head("main")
    assert body["environment"] == "production"
    assert body["urls"] == {
        "deployment": f"http://{deployment_id}.localhost:8080/",
        "production": "http://docs.localhost:8080/",
    }
    record = state.get(deployment_id)
    assert record.status is Status.QUEUED
    assert record.source is SourceKind.GIT
    assert record.environment is Environment.PRODUCTION
    assert record.repo_url == repo.url
    assert record.ref == "main"
    assert record.commit == repo.head("main")
    assert record.aliases == ("docs",)
    assert record.urls == body["urls"]
    assert "queued" in record.timestamps
    assert queued_ids(state) == [deployment_id]
    assert state.project_deployments("docs") == [deployment_id]


async def test_ref_defaults_to_the_production_branch(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)

    response = await api.post("/api/deployments", json={"repo_url": repo.url, "project": "site"})

    assert response.status == 202, await response.text()
    record = state.get((await response.json())["id"])
    assert record.ref == "main"
    assert record.environment is Environment.PRODUCTION
    assert record.commit == repo.head("main")


async def test_full_branch_ref_is_the_production_branch_too(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)

    response = await api.post(
        "/api/deployments",
        json={"repo_url": repo.url, "ref": "refs/heads/main", "project": "site"},
    )

    assert response.status == 202, await response.text()
    record = state.get((await response.json())["id"])
    assert (record.ref, record.environment, record.aliases) == (
        "main",
        Environment.PRODUCTION,
        ("site",),
    )


async def test_other_branch_is_a_preview_with_its_own_alias(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    branch_head = repo.commit(
        {"index.html": "<h1>new login</h1>\n"}, "login page", branch="feature/New_Login"
    )

    response = await api.post(
        "/api/deployments",
        json={"repo_url": repo.url, "ref": "feature/New_Login", "project": "docs"},
    )

    assert response.status == 202, await response.text()
    body = await response.json()
    record = state.get(body["id"])
    assert record.environment is Environment.PREVIEW
    assert record.aliases == ("feature-new-login--docs",)
    assert record.commit == branch_head != repo.head("main")
    assert body["urls"] == {
        "deployment": f"http://{record.id}.localhost:8080/",
        "preview": "http://feature-new-login--docs.localhost:8080/",
    }


async def test_the_commit_is_pinned_when_queued_not_when_built(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    first = repo.head("main")

    response = await api.post("/api/deployments", json={"repo_url": repo.url, "project": "site"})
    second = repo.commit({"index.html": "<h1>changed</h1>\n"}, "change")

    assert response.status == 202
    assert second != first
    assert state.get((await response.json())["id"]).commit == first


async def test_each_request_gets_its_own_deployment(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    ids = []
    for _ in range(2):
        response = await api.post(
            "/api/deployments", json={"repo_url": repo.url, "project": "site"}
        )
        assert response.status == 202
        ids.append((await response.json())["id"])

    assert len(set(ids)) == 2
    assert queued_ids(state) == ids
    assert record_ids(state) == sorted(ids)
