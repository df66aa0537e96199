"""GitHub settings, which repository URLs are GitHub's, and one POST to the stand-in API."""

from __future__ import annotations

import socket

import pytest

from deploy_platform.github.status_api import (
    CommitStatus,
    GitHubConfig,
    GitHubConfigError,
    GitHubRepo,
    GitHubStatuses,
    StatusPostError,
    StatusState,
    github_repo,
)
from tests.support.github_status_server import TOKEN, FakeGitHub

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_no_token_means_no_statuses() -> None:
    assert GitHubConfig.from_values("", "") is None
    assert GitHubConfig.from_values("https://ghe.example.com/api/v3", "  ") is None


def test_defaults_are_github_com_and_the_deploy_platform_context() -> None:
    config = GitHubConfig.from_values("", "t0ken")
    assert config is not None
    assert config.api_url == "https://api.github.com"
    assert config.web_host == "github.com"
    assert config.context == "deploy-platform"
    assert "t0ken" not in repr(config)


@pytest.mark.parametrize(
    ("api_url", "web_host"),
    [
        ("https://ghe.example.com/api/v3/", "ghe.example.com"),
        ("https://api.acme.ghe.com", "acme.ghe.com"),
        ("http://127.0.0.1:9999/api/v3", "127.0.0.1"),
    ],
)
def test_enterprise_api_urls_name_their_web_host(api_url: str, web_host: str) -> None:
    config = GitHubConfig.from_values(api_url, "t")
    assert config is not None
    assert config.api_url == api_url.rstrip("/")
    assert config.web_host == web_host


@pytest.mark.parametrize(
    ("api_url", "context", "named"),
    [
        ("ftp://ghe.example.com", "", "DP_GITHUB_API_URL"),
        ("https://user:pw@ghe.example.com/api/v3", "", "DP_GITHUB_API_URL"),
        ("https://ghe.example.com/api/v3?x=1", "", "DP_GITHUB_API_URL"),
        ("", "x" * 101, "DP_GITHUB_STATUS_CONTEXT"),
        ("", "two\nlines", "DP_GITHUB_STATUS_CONTEXT"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(
    api_url: str, context: str, named: str
) -> None:
    with pytest.raises(GitHubConfigError, match=named):
        GitHubConfig.from_values(api_url, "t", context)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/site", GitHubRepo("acme", "site")),
        ("https://github.com/acme/site.git", GitHubRepo("acme", "site")),
        ("https://GitHub.com/Acme/My.Site/", GitHubRepo("Acme", "My.Site")),
        ("https://www.github.com/acme/site.git", GitHubRepo("acme", "site")),
        ("http://github.com:8443/acme/site.git", GitHubRepo("acme", "site")),
        ("https://gitlab.com/acme/site.git", None),
        ("https://github.com.evil.example/acme/site.git", None),
        ("https://github.com/acme/site/tree/main", None),
        ("https://github.com/acme", None),
        ("https://github.com/acme/site.git?ref=x", None),
        ("https://github.com/acme/..", None),
        ("ssh://github.com/acme/site.git", None),
        ("https://[::1/acme/site", None),
        (None, None),
    ],
)
def test_only_repositories_on_the_github_host_get_statuses(
    url: str | None, expected: GitHubRepo | None
) -> None:
    assert github_repo(url, "github.com") == expected


def test_a_status_is_posted_as_github_documents(github_api: FakeGitHub) -> None:
    config = GitHubConfig.from_values(github_api.url, TOKEN)
    assert config is not None
    status = CommitStatus(
        StatusState.SUCCESS, "Ready", "deploy-platform/site", "http://site.localhost:8080/"
    )

    GitHubStatuses(config).post(GitHubRepo("acme", "site"), SHA, status)

    [request] = github_api.requests
    assert (request.method, request.path) == ("POST", f"/repos/acme/site/statuses/{SHA}")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.json() == {
        "state": "success",
        "description": "Ready",
        "context": "deploy-platform/site",
        "target_url": "http://site.localhost:8080/",
    }
    assert github_api.latest("acme", "site", SHA)["deploy-platform/site"]["state"] == "success"


def test_errors_say_whether_a_retry_can_help(github_api: FakeGitHub) -> None:
    config = GitHubConfig.from_values(github_api.url, TOKEN)
    bad_token = GitHubConfig.from_values(github_api.url, "wrong")
    assert config is not None and bad_token is not None
    status = CommitStatus(StatusState.PENDING, "Queued", "deploy-platform/site")
    repo = GitHubRepo("acme", "site")

    github_api.fail_next = [502]
    with pytest.raises(StatusPostError, match="HTTP 502: Server Error") as outage:
        GitHubStatuses(config).post(repo, SHA, status)
    with pytest.raises(StatusPostError, match="HTTP 401: Bad credentials.*DP_GITHUB_TOKEN") as auth:
        GitHubStatuses(bad_token).post(repo, SHA, status)

    assert outage.value.retryable
    assert not auth.value.retryable
    assert github_api.statuses == {}


def test_an_unreachable_api_is_a_retryable_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = GitHubConfig.from_values(f"http://127.0.0.1:{port}/api/v3", TOKEN)
    assert config is not None

    with pytest.raises(StatusPostError, match="unreachable") as down:
        GitHubStatuses(config).post(
            GitHubRepo("acme", "site"),
            SHA,
            CommitStatus(StatusState.PENDING, "Queued", "deploy-platform/site"),
        )

    assert down.value.retryable
