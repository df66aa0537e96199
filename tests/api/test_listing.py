"""GET /api/deployments: newest first, paged by cursor, what each alias serves now."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.names import preview_alias, production_alias
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.api.test_webhooks import create_project, only_result, send
from tests.support.api_fixtures import unique_name
from tests.support.deployments import published
from tests.support.webhooks import delivery, pull_request_payload, push_payload


def queued(
    state: PlatformState, project: str, at: float, *, ref: str = "main", ready: bool = True
) -> DeploymentRecord:
    production = ref == "main"
    record = DeploymentRecord(
        id=new_deployment_id(),
        project=project,
        source=SourceKind.UPLOAD,
        environment=Environment.PRODUCTION if production else Environment.PREVIEW,
        ref=ref,
        aliases=(production_alias(project) if production else preview_alias(project, ref),),
        urls={"deployment": "http://x.localhost/"},
        timestamps={"queued": at},
    )
    state.create(record)
    if ready:
        state.set_status(record.id, Status.READY, at=at + 10)
    return state.get(record.id)


async def get(api: TestClient[Any, Any], query: str) -> tuple[int, dict[str, Any]]:
    async with api.get(f"/api/deployments{query}") as response:
        return response.status, await response.json()


async def test_pages_follow_the_cursor_across_projects_with_ties_and_new_arrivals(
    api: TestClient[Any, Any], state: PlatformState
) -> None:
    now = time.time() - 1000
    made = [queued(state, "docs" if n % 2 else "blog", now + n) for n in range(7)]
    # Two queued in the same instant: both listed, once each, in a stable order.
    twins = [queued(state, "shop", now + 3.5), queued(state, "docs", now + 3.5)]
    expected = sorted([(r.timestamps["queued"], r.id) for r in [*made, *twins]], reverse=True)

    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        status, page = await get(api, f"?limit=2{cursor}")
        assert status == 200, page
        seen += [item["id"] for item in page["deployments"]]
        pages += 1
        if pages == 2:
            queued(state, "blog", time.time())  # newer than everything: not on later pages
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [deployment_id for _, deployment_id in expected]
    assert pages == 5

    status, page = await get(api, "?project=docs&limit=100")
    assert status == 200
    docs = [r for r in [*made, *twins] if r.project == "docs"]
    assert [item["id"] for item in page["deployments"]] == [
        r.id for r in sorted(docs, key=lambda r: r.timestamps["queued"], reverse=True)
    ]


async def test_an_item_says_what_each_alias_serves_now(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    first = published(store, state, "docs", b"<h1>v1</h1>")
    second = published(store, state, "docs", b"<h1>v2</h1>")
    preview = published(store, state, "docs", b"<h1>nav</h1>", ref="feature/nav")
    async with api.post("/api/projects/docs/rollback", json={}) as response:
        assert response.status == 200  # production back to the first

    status, page = await get(api, "?project=docs")

    assert status == 200
    items = {item["id"]: item for item in page["deployments"]}
    assert list(items) == [preview.id, second.id, first.id]
    assert [s["label"] for s in items[first.id]["serving"]] == ["production"]
    assert items[first.id]["serving"][0]["url"].startswith("http://docs.localhost")
    assert items[second.id]["serving"] == []
    assert [s["label"] for s in items[preview.id]["serving"]] == ["preview feature-nav"]
    assert items[second.id]["status"] == "ready" and items[second.id]["url"]


async def test_a_failed_deployment_has_no_url(
    api: TestClient[Any, Any], state: PlatformState
) -> None:
    record = queued(state, "docs", time.time(), ready=False)
    state.set_status(record.id, Status.FAILED, error="build failed")
    status, page = await get(api, "?project=docs")
    assert status == 200
    [item] = page["deployments"]
    assert (item["status"], item["url"], item["serving"]) == ("failed", None, [])
    assert item["error"] == "build failed"


async def test_a_push_s_commit_subject_and_author_are_listed(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), {"index.html": "<h1>hi</h1>"})
    secret = await create_project(api, name="docs", repo_url=repo.url)
    sha = repo.head()
    payload = push_payload(repo.url, "main", sha, message="Ship the pricing page\n\nDetails.")
    status, answer = await send(api, delivery(secret, "push", payload))
    assert status == 202 and only_result(answer)["outcome"] == "queued"

    status, page = await get(api, "?project=docs")

    [item] = page["deployments"]
    assert (item["commit"], item["commit_message"], item["commit_author"]) == (
        sha,
        "Ship the pricing page",
        "Some One",
    )
    assert (item["trigger"], item["branch"], item["environment"]) == (
        "webhook",
        "main",
        "production",
    )


async def test_a_pull_request_s_subject_is_read_from_the_repository(
    api: TestClient[Any, Any], git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), {"index.html": "<h1>hi</h1>"})
    secret = await create_project(api, name="docs", repo_url=repo.url)
    sha = repo.commit({"nav.html": "<nav/>"}, message="Add the nav\n\nBody.", branch="feature/nav")
    payload = pull_request_payload(repo.url, 7, "opened", sha, "feature/nav")
    status, answer = await send(api, delivery(secret, "pull_request", payload))
    assert status == 202 and only_result(answer)["outcome"] == "queued", answer

    status, page = await get(api, "?project=docs")

    [item] = page["deployments"]
    assert (item["commit"], item["commit_message"]) == (sha, "Add the nav")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("?limit=0", 400, "invalid_query"),
        ("?limit=101", 400, "invalid_query"),
        ("?cursor=nope", 400, "invalid_query"),
        ("?sort=age", 400, "invalid_query"),
        ("?project=Not_Valid", 400, "invalid_project"),
        ("?project=ghost", 404, "project_not_found"),
    ],
)
async def test_refusals(api: TestClient[Any, Any], query: str, status: int, code: str) -> None:
    answered, body = await get(api, query)
    assert (answered, body["error"]["code"]) == (status, code)


async def test_nothing_deployed_is_an_empty_list(api: TestClient[Any, Any]) -> None:
    assert await get(api, "") == (200, {"deployments": [], "next_cursor": None})
