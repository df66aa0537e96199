"""POST /api/deployments marks the commit `pending` on GitHub, in the background."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.api import create_app
from deploy_platform.api.app import StartupError
from deploy_platform.api.commit_status import STATUS_POSTER
from deploy_platform.contracts.records import Status
from deploy_platform.github.statuses import CommitStatusReporter
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.redis_state import PlatformState
from tests.api.conftest import ApiClientFactory
from tests.support.api_fixtures import queued_ids, unique_name
from tests.support.github_repos import github_shaped_repo
from tests.support.github_status_server import TOKEN, FakeGitHub

SITE = {"index.html": "<h1>hello</h1>\n"}


async def posted(api: TestClient[Any, Any]) -> None:
    """Wait for the API's background posts (what its shutdown does too)."""
    poster = api.server.app[STATUS_POSTER]
    await asyncio.gather(*poster.tasks)


def with_github(settings: Settings, api_url: str) -> Settings:
    """The settings with DP_GITHUB_API_URL and DP_GITHUB_TOKEN set."""
    return dataclasses.replace(settings, github_api_url=api_url, github_token=TOKEN)


def reporter(settings: Settings, state: PlatformState) -> CommitStatusReporter:
    config = settings.github_config()
    assert config is not None
    return CommitStatusReporter(config, state)


async def test_a_queued_deployment_is_pending_on_its_commit(
    api_for: ApiClientFactory,
    settings: Settings,
    state: PlatformState,
    git_http: Any,
    github_api: FakeGitHub,
) -> None:
    repo = github_shaped_repo(git_http, unique_name("site"), SITE, branch="feature/login")
    settings = with_github(settings, github_api.url)
    api = await api_for(settings)

    response = await api.post(
        "/api/deployments",
        json={"repo_url": repo.url, "ref": "feature/login", "project": "shop"},
    )
    await posted(api)

    assert response.status == 202, await response.text()
    deployment_id = (await response.json())["id"]
    [request] = github_api.requests
    assert request.method == "POST"
    assert request.path == f"/repos/acme/{repo.name}/statuses/{repo.head}"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.json() == {
        "state": "pending",
        "description": f"Queued: preview deployment {deployment_id}",
        "context": "deploy-platform/shop",
    }
    assert github_api.latest("acme", repo.name, repo.head)["deploy-platform/shop"]["state"] == (
        "pending"
    )


async def test_a_slow_github_does_not_hold_up_the_answer(
    api_for: ApiClientFactory,
    settings: Settings,
    state: PlatformState,
    git_http: Any,
    github_api: FakeGitHub,
) -> None:
    repo = github_shaped_repo(git_http, unique_name("site"), SITE)
    api = await api_for(with_github(settings, github_api.url))

    with github_api.hold() as arrived:
        response = await api.post(
            "/api/deployments", json={"repo_url": repo.url, "project": "shop"}
        )
        # Answered while GitHub still holds the post.
        assert response.status == 202
        assert await asyncio.to_thread(arrived.acquire, True, 30)
        assert github_api.statuses == {}
    await posted(api)

    assert len(github_api.statuses[("acme", repo.name, repo.head)]) == 1


async def test_github_down_never_fails_the_enqueue(
    api_for: ApiClientFactory, settings: Settings, state: PlatformState, git_http: Any
) -> None:
    repo = github_shaped_repo(git_http, unique_name("site"), SITE)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}/api/v3"
    settings = with_github(settings, down)
    api = await api_for(settings)

    response = await api.post("/api/deployments", json={"repo_url": repo.url, "project": "shop"})
    await posted(api)

    assert response.status == 202
    deployment_id = (await response.json())["id"]
    assert state.get(deployment_id).status is Status.QUEUED
    assert queued_ids(state) == [deployment_id]
    entry = reporter(settings, state).entry(deployment_id)
    assert entry is not None and entry.status.state == "pending"
    assert entry.due is not None and entry.attempts == 1  # the retry sensor's job now
    assert entry.error is not None and "unreachable" in entry.error


async def test_repositories_not_on_github_get_no_status(
    api_for: ApiClientFactory,
    settings: Settings,
    state: PlatformState,
    git_http: Any,
    github_api: FakeGitHub,
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)  # /<name>.git: no owner
    api = await api_for(with_github(settings, github_api.url))

    response = await api.post("/api/deployments", json={"repo_url": repo.url, "project": "shop"})
    await posted(api)

    assert response.status == 202
    assert github_api.requests == []
    assert state.redis.keys(state.key("commit-status*")) == []


async def test_without_a_token_statuses_are_off(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = github_shaped_repo(git_http, unique_name("site"), SITE)

    response = await api.post("/api/deployments", json={"repo_url": repo.url, "project": "shop"})

    assert response.status == 202
    assert api.server.app[STATUS_POSTER].reporter is None
    assert state.redis.keys(state.key("commit-status*")) == []


def test_a_bad_github_setting_stops_the_api_at_start_up(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(github_api_url="https://ghe.example.com/api/v3?x", github_token="t")
    with pytest.raises(StartupError, match="DP_GITHUB_API_URL"):
        create_app(settings)
