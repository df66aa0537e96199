"""The repository's default branch is production: for a new project, and for a deploy
of a repository no project describes (as on Cloudflare Pages); a production branch
that is set explicitly wins. Real repositories over smart HTTP on loopback."""

from __future__ import annotations

import subprocess
from typing import Any

from aiohttp.test_utils import TestClient

from deploy_platform.contracts.records import Environment
from deploy_platform.storage.redis_state import PlatformState
from tests.api.test_webhooks import only_result, send
from tests.support.api_fixtures import unique_name
from tests.support.webhooks import delivery, push_payload

SITE = {"index.html": "<h1>hello</h1>\n"}


async def post(api: TestClient[Any, Any], path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with api.post(path, json=body) as response:
        answer = await response.json()
        assert response.status in (201, 202), answer
        return dict(answer)


async def test_a_deploy_of_a_master_repository_goes_to_production(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("legacy"), SITE, branch="master")

    answer = await post(api, "/api/deployments", {"repo_url": repo.url, "project": "legacy"})

    record = state.get(answer["id"])
    assert (record.ref, record.commit) == ("master", repo.head("master"))
    assert record.environment is Environment.PRODUCTION
    assert record.aliases == ("legacy",)
    assert answer["urls"]["production"] == "http://legacy.localhost:8080/"


async def test_a_deploy_naming_a_ref_still_knows_which_branch_is_production(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("legacy"), SITE, branch="master")
    feature = repo.commit({"a.html": "a"}, branch="main")  # a branch called main, not HEAD

    production = await post(
        api, "/api/deployments", {"repo_url": repo.url, "project": "legacy", "ref": "master"}
    )
    preview = await post(
        api, "/api/deployments", {"repo_url": repo.url, "project": "legacy", "ref": "main"}
    )

    assert state.get(production["id"]).environment is Environment.PRODUCTION
    record = state.get(preview["id"])
    assert (record.environment, record.aliases, record.commit) == (
        Environment.PREVIEW,
        ("main--legacy",),
        feature,
    )


async def test_an_empty_repository_falls_back_to_the_platform_default(
    api: TestClient[Any, Any], git_http: Any
) -> None:
    name = unique_name("empty")
    bare = git_http.repos_root / f"{name}.git"
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=master", str(bare)],
        env=git_http.env,
        check=True,
    )

    created = await post(
        api, "/api/projects", {"name": "fresh", "repo_url": f"{git_http.base_url}/{name}.git"}
    )

    assert created["production_branch"] == "main"
    assert created["production_branch_from"].startswith("platform default")


async def test_a_new_project_takes_the_repositorys_default_branch(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("legacy"), SITE, branch="master")

    created = await post(api, "/api/projects", {"name": "legacy", "repo_url": repo.url})

    assert created["production_branch"] == "master"
    assert created["production_branch_from"] == "repository default branch"
    async with api.get("/api/projects/legacy") as response:
        assert (await response.json())["production_branch"] == "master"
    # A push to master goes to production; a deploy without a ref deploys master.
    pushed = repo.commit({"index.html": "<h1>v2</h1>"}, branch="master")
    status, answer = await send(
        api,
        delivery(created["webhook_secret"], "push", push_payload(repo.url, "master", pushed)),
    )
    result = only_result(answer)
    assert (status, result["environment"], result["alias"]) == (202, "production", "legacy")
    deployed = await post(api, "/api/deployments", {"repo_url": repo.url, "project": "legacy"})
    assert (deployed["ref"], deployed["environment"]) == ("master", "production")


async def test_an_explicit_production_branch_wins(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("legacy"), SITE, branch="master")
    repo.commit({"a.html": "a"}, branch="live")

    created = await post(
        api,
        "/api/projects",
        {"name": "legacy", "repo_url": repo.url, "production_branch": "live"},
    )
    deployed = await post(api, "/api/deployments", {"repo_url": repo.url, "project": "legacy"})
    master = await post(
        api, "/api/deployments", {"repo_url": repo.url, "project": "legacy", "ref": "master"}
    )

    assert (created["production_branch"], created["production_branch_from"]) == (
        "live",
        "request",
    )
    assert (deployed["ref"], deployed["environment"]) == ("live", "production")
    assert (master["environment"], master["urls"]["preview"]) == (
        "preview",
        "http://master--legacy.localhost:8080/",
    )
