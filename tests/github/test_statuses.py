"""The commit status outbox: what is posted, in which order, and how failures are retried.

Time is the reporter's injected clock (a number the test moves), so backoff is
checked without waiting.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind
from deploy_platform.github.status_api import GitHubConfig
from deploy_platform.github.statuses import BACKOFF_SECONDS, CommitStatusReporter, success_url
from deploy_platform.storage.redis_state import PlatformState
from tests.support.github_status_server import TOKEN, FakeGitHub

SHA = "89abcdef0123456789abcdef0123456789abcdef"


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make_record(
    repo_url: str | None = "https://127.0.0.1/acme/site.git",
    *,
    environment: Environment = Environment.PREVIEW,
    commit: str | None = SHA,
    project: str = "site",
) -> DeploymentRecord:
    dep = new_deployment_id()
    alias = "feature-x--site" if environment is Environment.PREVIEW else "site"
    return DeploymentRecord(
        id=dep,
        project=project,
        source=SourceKind.GIT if repo_url else SourceKind.UPLOAD,
        environment=environment,
        repo_url=repo_url,
        ref="feature/x" if environment is Environment.PREVIEW else "main",
        commit=commit,
        aliases=(alias,),
        urls={
            "deployment": f"http://{dep}.localhost:8080/",
            environment.value: f"http://{alias}.localhost:8080/",
        },
    )


def reporter_for(
    api_url: str, state: PlatformState, clock: Clock, warnings: list[str] | None = None
) -> CommitStatusReporter:
    config = GitHubConfig.from_values(api_url, TOKEN)
    assert config is not None
    sink = warnings if warnings is not None else []
    return CommitStatusReporter(config, state, sink.append, clock=clock)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def clock() -> Clock:
    """The reporter's clock; tests move `.now` instead of sleeping."""
    return Clock()


def bodies(github: FakeGitHub) -> list[dict[str, str]]:
    return [request.json() for request in github.requests]


def test_pending_then_success_links_the_preview(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    reporter = reporter_for(github_api.url, state, clock)
    record = make_record()

    queued = reporter.queued(record)
    done = reporter.succeeded(record, success_url(record, moved_aliases=True))

    assert "pending posted to acme/site@" in queued and "success posted" in done
    assert [(r.method, r.path) for r in github_api.requests] == [
        ("POST", f"/repos/acme/site/statuses/{SHA}")
    ] * 2
    for request in github_api.requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert bodies(github_api) == [
        {
            "state": "pending",
            "description": f"Queued: preview deployment {record.id}",
            "context": "deploy-platform/site",
        },
        {
            "state": "success",
            "description": f"Ready: preview deployment {record.id}",
            "context": "deploy-platform/site",
            "target_url": "http://feature-x--site.localhost:8080/",
        },
    ]
    entry = reporter.entry(record.id)
    assert entry is not None and entry.due is None and entry.delivered == 2
    assert state.redis.zcard(state.key("commit-status-due")) == 0


def test_success_links_the_immutable_url_when_no_alias_moved() -> None:
    record = make_record(environment=Environment.PRODUCTION)
    assert success_url(record, moved_aliases=True) == "http://site.localhost:8080/"
    assert success_url(record, moved_aliases=False) == record.urls["deployment"]


def test_failure_carries_the_reason_cut_to_githubs_limit(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    reporter = reporter_for(github_api.url, state, clock)
    short, long = make_record(), make_record()
    reason = "build failed: `npm run build` exited with status 1\n" + "x" * 300

    reporter.failed(short, "no index.html in the output directory dist/")
    reporter.failed(long, reason)

    first, second = bodies(github_api)
    assert first == {
        "state": "failure",
        "description": "Failed: no index.html in the output directory dist/",
        "context": "deploy-platform/site",
    }
    assert second["state"] == "failure"
    assert len(second["description"]) == 140
    assert second["description"].startswith(
        "Failed: build failed: `npm run build` exited with status 1 xxx"
    )
    assert second["description"].endswith("x…")
    # GitHub took both (it answers 422 to a description over 140 characters).
    assert len(github_api.statuses[("acme", "site", SHA)]) == 2


def test_the_failure_reason_defaults_to_the_records_error(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    reporter = reporter_for(github_api.url, state, clock)
    record = make_record().replace(error="the run was killed")

    reporter.failed(record)

    assert bodies(github_api)[0]["description"] == "Failed: the run was killed"


def test_a_server_error_is_retried_after_the_backoff(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    warnings: list[str] = []
    reporter = reporter_for(github_api.url, state, clock, warnings)
    record = make_record()
    github_api.fail_next = [500]

    outcome = reporter.succeeded(record, "http://feature-x--site.localhost:8080/")

    assert "HTTP 500" in outcome and "retrying in 5 s" in outcome
    assert warnings == [outcome]
    assert github_api.statuses == {}
    entry = reporter.entry(record.id)
    assert entry is not None and entry.attempts == 1 and entry.due == clock.now + 5
    assert entry.error is not None and "HTTP 500" in entry.error

    clock.now += 4
    assert reporter.retry_due() == []  # not due yet
    assert len(github_api.requests) == 1

    clock.now += 1
    [retried] = reporter.retry_due()

    assert "success posted" in retried
    [stored] = github_api.statuses[("acme", "site", SHA)]
    assert stored["state"] == "success"
    assert stored["target_url"] == "http://feature-x--site.localhost:8080/"
    entry = reporter.entry(record.id)
    assert entry is not None and entry.due is None and entry.error is None


def test_retry_after_from_github_is_respected(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    reporter = reporter_for(github_api.url, state, clock)
    record = make_record()
    github_api.fail_next = [429]

    reporter.queued(record)

    entry = reporter.entry(record.id)
    # The fake sends no Retry-After: the backoff applies; 429 is worth retrying.
    assert entry is not None and entry.due == clock.now + BACKOFF_SECONDS[0]


def test_an_unreachable_github_is_retried_a_bounded_number_of_times(
    state: PlatformState, clock: Clock
) -> None:
    warnings: list[str] = []
    reporter = reporter_for(closed_port_url(), state, clock, warnings)
    record = make_record()

    first = reporter.succeeded(record, None)
    for delay in BACKOFF_SECONDS:
        clock.now += delay
        assert len(reporter.retry_due()) == 1

    assert "unreachable" in first
    assert len(warnings) == len(BACKOFF_SECONDS) + 1
    assert f"giving up after {len(BACKOFF_SECONDS) + 1} attempts" in warnings[-1]
    entry = reporter.entry(record.id)
    assert entry is not None and entry.due is None and entry.delivered == 0
    assert entry.error is not None and "unreachable" in entry.error
    clock.now += 3600
    assert reporter.retry_due() == []


def test_a_bad_token_is_not_retried(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    config = GitHubConfig.from_values(github_api.url, "not-the-token")
    assert config is not None
    warnings: list[str] = []
    reporter = CommitStatusReporter(config, state, warnings.append, clock=clock)
    record = make_record()

    outcome = reporter.queued(record)

    assert "HTTP 401: Bad credentials" in outcome and "retrying cannot help" in outcome
    assert warnings == [outcome]
    entry = reporter.entry(record.id)
    assert entry is not None and entry.due is None
    clock.now += 3600
    assert reporter.retry_due() == [] and len(github_api.requests) == 1


def test_repositories_elsewhere_and_uploads_are_skipped_quietly(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    warnings: list[str] = []
    reporter = reporter_for(github_api.url, state, clock, warnings)
    elsewhere = make_record("https://gitlab.example.com/acme/site.git")
    upload = make_record(None, commit=None)
    no_sha = make_record(commit="main")

    outcomes = [
        reporter.queued(elsewhere),
        reporter.succeeded(elsewhere, None),
        reporter.failed(upload, "x"),
        reporter.queued(no_sha),
    ]

    assert github_api.requests == [] and warnings == []
    assert "not a repository on 127.0.0.1" in outcomes[0]
    assert "an upload is not a repository" in outcomes[2]
    assert "no commit sha" in outcomes[3]
    assert all(reporter.entry(r.id) is None for r in (elsewhere, upload, no_sha))


def test_github_enterprise_statuses_go_under_api_v3(
    github_enterprise: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    assert github_enterprise.url.endswith("/api/v3")
    reporter = reporter_for(github_enterprise.url, state, clock)
    record = make_record("http://127.0.0.1:8443/platform-team/docs-site")

    reporter.queued(record)

    [request] = github_enterprise.requests
    assert request.path == f"/api/v3/repos/platform-team/docs-site/statuses/{SHA}"
    assert github_enterprise.latest("platform-team", "docs-site", SHA)["deploy-platform/site"][
        "state"
    ] == ("pending")


def test_a_late_pending_never_overwrites_success(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    reporter = reporter_for(github_api.url, state, clock)
    record = make_record()

    reporter.succeeded(record, None)
    late = reporter.queued(record)

    assert "has a later one" in late
    assert [b["state"] for b in bodies(github_api)] == ["success"]


def test_a_pending_still_in_flight_is_followed_by_success_not_overtaken(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    """The API's pending is being posted when the pipeline finishes: success goes second."""
    reporter = reporter_for(github_api.url, state, clock)
    record = make_record()
    outcomes: list[str] = []

    with github_api.hold() as arrived:
        poster = threading.Thread(target=lambda: outcomes.append(reporter.queued(record)))
        poster.start()
        assert arrived.acquire(timeout=30)  # pending is inside GitHub now
        meanwhile = reporter.succeeded(record, "http://feature-x--site.localhost:8080/")
    poster.join(timeout=30)

    assert "another process is posting" in meanwhile
    assert "success posted" in outcomes[0]  # the lock holder posted the newer version
    assert [b["state"] for b in bodies(github_api)] == ["pending", "success"]
    shown = github_api.latest("acme", "site", SHA)["deploy-platform/site"]
    assert shown["state"] == "success"
    entry = reporter.entry(record.id)
    assert entry is not None and entry.due is None and entry.delivered == entry.version == 2


def test_a_failed_retry_waits_while_a_newer_status_goes_first(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    reporter = reporter_for(github_api.url, state, clock)
    record = make_record()
    github_api.fail_next = [503]

    reporter.queued(record)  # pending fails, due in 5 s
    reporter.failed(record, "build failed")  # replaces it, posted at once
    clock.now += 60
    assert reporter.retry_due() == []

    assert [b["state"] for b in bodies(github_api)] == ["pending", "failure"]
    assert [s["state"] for s in github_api.statuses[("acme", "site", SHA)]] == ["failure"]


def test_a_re_materialized_deployment_turns_failure_into_success(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    reporter = reporter_for(github_api.url, state, clock)
    record = make_record()

    reporter.queued(record)
    reporter.failed(record, "build failed")
    reporter.failed(record, "build failed")  # the run-failure sensor repeating the asset
    reporter.succeeded(record, None)

    assert [b["state"] for b in bodies(github_api)] == ["pending", "failure", "success"]


def test_projects_sharing_a_repository_have_their_own_context(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    reporter = reporter_for(github_api.url, state, clock)

    reporter.succeeded(make_record(project="docs"), None)
    reporter.failed(make_record(project="app"), "boom")

    shown = github_api.latest("acme", "site", SHA)
    assert {context: s["state"] for context, s in shown.items()} == {
        "deploy-platform/docs": "success",
        "deploy-platform/app": "failure",
    }


def test_redis_trouble_is_reported_never_raised(
    github_api: FakeGitHub, state: PlatformState, clock: Clock
) -> None:
    warnings: list[str] = []
    reporter = reporter_for(github_api.url, state, clock, warnings)
    broken = PlatformState.from_url("redis://127.0.0.1:1/0", state.prefix, timeout=1)
    reporter.state = broken

    outcome = reporter.succeeded(make_record(), None)

    assert "not stored" in outcome and warnings == [outcome]
    assert "not posted" in reporter.deliver(new_deployment_id())
    broken.redis.close()
