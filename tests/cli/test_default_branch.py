"""The CLI on a repository whose default branch is `master`: `deploy` goes to production,
and `project create` takes master as the production branch and says where it came from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deploy_platform import cli
from deploy_platform.contracts.records import Environment, Status
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi, queued_ids, unique_name

SITE = {"index.html": "<h1>hello</h1>\n"}


@pytest.fixture
def api(running_api: Callable[..., RunningApi], git_allow_hosts: Any) -> RunningApi:
    return running_api(git_allow_hosts=tuple(git_allow_hosts))


def test_deploying_a_master_repository_updates_the_production_url(
    api: RunningApi,
    state: PlatformState,
    git_http: Any,
    pipeline: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = git_http.create_repo(unique_name("legacy"), SITE, branch="master")
    pipeline(Status.READY)

    code = cli.main(["deploy", repo.url, "--project", "legacy", "--api", api.url])

    out = capsys.readouterr().out
    assert code == 0, out
    [deployment_id] = queued_ids(state)
    record = state.get(deployment_id)
    assert (record.ref, record.environment) == ("master", Environment.PRODUCTION)
    assert "http://legacy.localhost:8080/" in out


def test_project_create_takes_the_default_branch_unless_told(
    api: RunningApi, git_http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_http.create_repo(unique_name("legacy"), SITE, branch="master")

    code = cli.main(["project", "create", "legacy", "--repo", repo.url, "--api", api.url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "branch master" in out
    assert "production branch master: repository default branch" in out

    code = cli.main(
        ["project", "create", "other", "--repo", repo.url, "--production-branch", "live"]
        + ["--api", api.url]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "branch live" in out and "repository default branch" not in out
