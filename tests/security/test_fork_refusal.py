"""Pull requests from forks are strangers' code: refused where builds are not isolated."""

from __future__ import annotations

import pytest

from deploy_platform.build import isolation
from deploy_platform.github.webhooks import Deploy, Skip, parse_event, plan
from deploy_platform.github.webhooks.events import Event
from deploy_platform.projects.model import Project
from tests.support.environment import PlatformEnv
from tests.support.webhooks import pull_request_payload

REPO = "https://github.com/acme/docs.git"
FORK = "https://github.com/stranger/docs.git"
SHA = "a" * 40
PROJECT = Project(name="docs", repo_url=REPO, build_forks=True)
ISOLATED = isolation.Status(isolation.Mode.AUTO, sandboxed=True, network=True, problems=())
MISSING = isolation.Status(
    isolation.Mode.AUTO, sandboxed=False, network=False, problems=("bwrap is not installed",)
)


def fork_pull_request() -> Event:
    return parse_event(
        "pull_request", pull_request_payload(REPO, 7, "opened", SHA, "main", head_clone_url=FORK)
    )


def test_a_fork_is_built_where_builds_are_isolated() -> None:
    action = plan(fork_pull_request(), PROJECT, ISOLATED)
    assert isinstance(action, Deploy) and action.repo_url == FORK


@pytest.mark.parametrize("status", [MISSING], ids=["bwrap-missing"])
def test_a_fork_is_refused_without_isolation_even_when_the_project_allows_forks(
    status: isolation.Status,
) -> None:
    action = plan(fork_pull_request(), PROJECT, status)
    assert isinstance(action, Skip)
    assert "fork stranger/docs" in action.reason
    assert "builds are not isolated on this machine (bwrap is not installed" in action.reason
    assert "apt-get install bubblewrap slirp4netns" in action.reason


def test_isolation_turned_off_refuses_forks_as_the_machine_is_asked(
    platform_env: PlatformEnv,
) -> None:
    platform_env.set(DP_BUILD_ISOLATION="off")
    action = plan(fork_pull_request(), PROJECT)
    assert isinstance(action, Skip)
    assert "DP_BUILD_ISOLATION=off" in action.reason


def test_the_projects_own_pull_requests_are_built_without_isolation() -> None:
    own = parse_event("pull_request", pull_request_payload(REPO, 8, "opened", SHA, "fix-typo"))
    assert isinstance(plan(own, PROJECT, MISSING), Deploy)
