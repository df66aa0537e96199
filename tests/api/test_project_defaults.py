"""A deployment of an existing project takes the project's settings as defaults."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from deploy_platform.storage.redis_state import PlatformState
from tests.api.test_uploads import GZIP, SITE, tar_gz
from tests.support.api_fixtures import unique_name

SECRET = "project-secret-value"
PROJECT_BUILD = {
    "build_command": "npm run build:site",
    "output_directory": "out",
    "node_version": "20",
    "env": {"API_KEY": SECRET, "MODE": "project"},
}


async def make_project(api: TestClient[Any, Any], **fields: Any) -> None:
    async with api.post("/api/projects", json=fields) as response:
        assert response.status == 201, await response.text()


async def test_the_projects_build_settings_and_production_branch_apply(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), {"index.html": "<h1>x</h1>"}, "trunk")
    await make_project(
        api, name="site", repo_url=repo.url, production_branch="trunk", build=PROJECT_BUILD
    )
    # No ref: the project's production branch, and it moves production.
    async with api.post(
        "/api/deployments",
        json={
            "repo_url": repo.url,
            "project": "site",
            "build": {"node_version": "22", "env": {"MODE": "request", "EXTRA": "e"}},
        },
    ) as response:
        text = await response.text()
        assert response.status == 202, text
    answer = json.loads(text)
    assert SECRET not in text
    assert (answer["ref"], answer["environment"]) == ("trunk", "production")
    assert answer["commit"] == repo.head("trunk")
    assert "production" in answer["urls"]
    build = state.get(answer["id"]).build
    assert build["build_command"] == "npm run build:site"  # from the project
    assert build["output_directory"] == "out"
    assert build["node_version"] == "22"  # the request wins
    assert build["env"] == {"API_KEY": SECRET, "MODE": "request", "EXTRA": "e"}
    assert answer["build"]["env"] == {"API_KEY": "***", "MODE": "***", "EXTRA": "***"}


async def test_main_is_a_preview_of_a_project_whose_production_branch_is_another(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), {"index.html": "<h1>x</h1>"})
    await make_project(api, name="site", production_branch="trunk")
    async with api.post(
        "/api/deployments", json={"repo_url": repo.url, "project": "site", "ref": "main"}
    ) as response:
        answer = await response.json()
    assert response.status == 202, answer
    assert answer["environment"] == "preview"
    assert state.get(answer["id"]).aliases == ("main--site",)


async def test_an_upload_takes_the_projects_defaults_too(
    api: TestClient[Any, Any], state: PlatformState
) -> None:
    await make_project(api, name="site", production_branch="trunk", build=PROJECT_BUILD)
    async with api.post(
        "/api/deployments",
        params={"project": "site"},
        data=tar_gz(SITE),
        headers={**GZIP, "X-Build-Settings": json.dumps({"build_command": "make"})},
    ) as response:
        answer = await response.json()
    assert response.status == 202, answer
    assert (answer["ref"], answer["environment"]) == ("trunk", "production")
    build = state.get(answer["id"]).build
    assert build["build_command"] == "make"
    assert build["output_directory"] == "out"
    assert build["env"]["API_KEY"] == SECRET


async def test_without_a_project_the_platform_defaults_apply(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), {"index.html": "<h1>x</h1>"})
    await make_project(api, name="other", build=PROJECT_BUILD)
    async with api.post(
        "/api/deployments", json={"repo_url": repo.url, "project": "site"}
    ) as response:
        answer = await response.json()
    assert response.status == 202, answer
    assert (answer["ref"], answer["environment"]) == ("main", "production")
    build = state.get(answer["id"]).build
    assert build["env"] == {} and build["build_command"] is None
