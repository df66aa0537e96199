"""The statuses a real deployment posts: the control API over HTTP, the deploy job on a real
Dagster instance with the `commit_status` resource, the sensors as the daemon runs them,
and a loopback GitHub API that checks every request."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import dagster as dg

from deploy_platform.cli.client import ApiClient
from deploy_platform.contracts.records import Environment, SourceKind, Status
from deploy_platform.github.status_api import GitHubConfig
from deploy_platform.github.statuses import CommitStatusReporter, describe_failure
from deploy_platform.orchestration.assets import published_deployment
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.sensors.commit_status_sensor import commit_status_sensor
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, make_record, unique
from tests.orchestration.test_sensors import BrokenBuildRunner, evaluate_failure_sensor
from tests.support.api_fixtures import RunningApi, make_settings, running_api  # noqa: F401
from tests.support.github_repos import GitHubShapedRepo, github_shaped_repo
from tests.support.github_status_server import TOKEN, FakeGitHub

SITE = {"index.html": "<h1>preview</h1>"}


def with_statuses(deployer: Deployer, api_url: str, **fields: Any) -> Deployer:
    """The deployer with the commit_status resource as definitions.py builds it from DP_GITHUB_*."""
    resource = CommitStatusResource(api_url=api_url, token=TOKEN, **fields)
    return Deployer(deployer.instance, {**deployer.resources, "commit_status": resource})


def queue_from(
    state: PlatformState, repo: GitHubShapedRepo, project: str, ref: str = "main"
) -> str:
    """The record the API writes for a push of `repo` (without the API: no pending)."""
    environment = Environment.PRODUCTION if ref == "main" else Environment.PREVIEW
    record = make_record(
        project=project,
        source=SourceKind.GIT,
        repo_url=repo.url,
        ref=ref,
        commit=repo.head,
        environment=environment,
    )
    state.create(record)
    return record.id


def reporter(api_url: str, state: PlatformState) -> CommitStatusReporter:
    config = GitHubConfig.from_values(api_url, TOKEN)
    assert config is not None
    return CommitStatusReporter(config, state)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_a_pushed_branch_is_pending_then_success_linking_its_preview(
    git_http: Any,
    git_allow_hosts: tuple[str, ...],
    running_api: Callable[..., RunningApi],  # noqa: F811
    deployer: Deployer,
    state: PlatformState,
    github_api: FakeGitHub,
) -> None:
    repo = github_shaped_repo(git_http, unique("site"), SITE, branch="feature/login")
    api = running_api(
        git_allow_hosts=git_allow_hosts, github_api_url=github_api.url, github_token=TOKEN
    )
    answer = ApiClient(api.url).deploy_git(repo.url, "shop", ref="feature/login")
    deployment_id = answer["id"]
    github_api.wait_for_statuses(1)  # the API's background post of `pending`

    result = with_statuses(deployer, github_api.url).run(deployment_id)

    assert result.success
    record = state.get(deployment_id)
    assert record.status is Status.READY
    preview = record.urls["preview"]
    assert preview.startswith("http://feature-login--shop.")
    path = f"/repos/acme/{repo.name}/statuses/{repo.head}"
    assert [(r.method, r.path) for r in github_api.requests] == [("POST", path)] * 2
    for request in github_api.requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert [r.json() for r in github_api.requests] == [
        {
            "state": "pending",
            "description": f"Queued: preview deployment {deployment_id}",
            "context": "deploy-platform/shop",
        },
        {
            "state": "success",
            "description": f"Ready: preview deployment {deployment_id}",
            "context": "deploy-platform/shop",
            "target_url": preview,
        },
    ]
    shown = github_api.latest("acme", repo.name, repo.head)["deploy-platform/shop"]
    assert (shown["state"], shown["target_url"]) == ("success", preview)
    [materialization] = result.asset_materializations_for_node(published_deployment.op.name)
    assert "commit status success posted" in str(materialization.metadata["commit_status"].value)


def test_a_failed_build_posts_failure_with_the_reason(
    git_http: Any, deployer: Deployer, state: PlatformState, github_api: FakeGitHub
) -> None:
    repo = github_shaped_repo(git_http, unique("site"), {".env": "nothing to publish"})
    deployment_id = queue_from(state, repo, "docs")

    result = with_statuses(deployer, github_api.url).run(deployment_id)

    assert not result.success
    failed = state.get(deployment_id)
    assert failed.status is Status.FAILED and failed.error
    [request] = github_api.requests
    assert request.path == f"/repos/acme/{repo.name}/statuses/{repo.head}"
    assert request.json() == {
        "state": "failure",
        "description": describe_failure(failed.error),
        "context": "deploy-platform/docs",
    }
    assert "nothing to publish" in request.json()["description"]


def test_a_run_that_died_is_marked_failure_by_the_failure_sensor(
    git_http: Any,
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    github_api: FakeGitHub,
) -> None:
    repo = github_shaped_repo(git_http, unique("site"), SITE)
    deployment_id = queue_from(state, repo, "docs")
    resources = {
        **resources,
        "build_runner": BrokenBuildRunner(),
        "commit_status": CommitStatusResource(api_url=github_api.url, token=TOKEN),
    }
    result = Deployer(instance, resources).run(deployment_id)
    assert not result.success and github_api.requests == []  # no asset body ran

    evaluate_failure_sensor(instance, resources, result)

    [request] = github_api.requests
    assert request.json()["state"] == "failure"
    description = request.json()["description"]
    assert description.startswith("Failed: run ")
    assert description.endswith(" died: RuntimeError: build sandbox unavailable")


def test_github_down_never_fails_the_deployment(
    git_http: Any, deployer: Deployer, state: PlatformState
) -> None:
    repo = github_shaped_repo(git_http, unique("site"), SITE)
    deployment_id = queue_from(state, repo, "docs")
    down = closed_port_url()

    result = with_statuses(deployer, down).run(deployment_id)

    assert result.success
    assert state.get(deployment_id).status is Status.READY
    entry = reporter(down, state).entry(deployment_id)
    assert entry is not None and entry.status.state == "success"
    assert entry.error is not None and "unreachable" in entry.error
    assert entry.due is not None  # left for commit_status_sensor


def test_a_status_github_refused_is_posted_by_the_retry_sensor(
    git_http: Any,
    deployer: Deployer,
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    github_api: FakeGitHub,
) -> None:
    repo = github_shaped_repo(git_http, unique("site"), SITE)
    deployment_id = queue_from(state, repo, "docs")
    # No wait between attempts, so the next tick retries at once.
    deployer = with_statuses(deployer, github_api.url, retry_backoff_seconds=[0.0])
    github_api.fail_next = [500]

    result = deployer.run(deployment_id)

    assert result.success and github_api.statuses == {}
    [materialization] = result.asset_materializations_for_node(published_deployment.op.name)
    assert "HTTP 500" in str(materialization.metadata["commit_status"].value)

    sensor_resources = {
        "redis": resources["redis"],
        "commit_status": deployer.resources["commit_status"],
    }
    with dg.build_sensor_context(instance=instance, resources=sensor_resources) as context:
        tick = commit_status_sensor(context)

    assert isinstance(tick, dg.SkipReason) and "1 commit status retries" in str(tick.skip_message)
    [stored] = github_api.statuses[("acme", repo.name, repo.head)]
    assert stored["state"] == "success"
    assert stored["target_url"] == state.get(deployment_id).urls["production"]
    assert [r.json()["state"] for r in github_api.requests] == ["success", "success"]


def test_without_a_token_the_sensor_does_nothing(
    instance: dg.DagsterInstance, resources: dict[str, Any]
) -> None:
    with dg.build_sensor_context(
        instance=instance,
        resources={"redis": resources["redis"], "commit_status": CommitStatusResource()},
    ) as context:
        tick = commit_status_sensor(context)

    assert isinstance(tick, dg.SkipReason) and "off" in str(tick.skip_message)
