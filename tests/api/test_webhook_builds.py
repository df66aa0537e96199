"""Webhooks as Cloudflare Pages handles them: skip markers on pushes and pull requests,
and one build for a push and its pull request's event of the same commit.

Signed deliveries shaped like GitHub's go to the real endpoint; Redis is real, the
repositories are served over smart HTTP on loopback, and deployments are taken to
ready by the real Dagster job (the static build runner: no npm here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.records import Status
from deploy_platform.orchestration.resources.alias_index import AliasIndexResource
from deploy_platform.orchestration.resources.build_runner import StaticBuildRunner
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.git_source import GitSourceResource
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.publish.alias_moves import list_moves
from deploy_platform.publish.aliases import read_alias
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.api.test_webhooks import create_project, only_result, send
from tests.orchestration.support import Deployer, served_text
from tests.support.api_fixtures import assert_nothing_accepted, queued_ids, record_ids, unique_name
from tests.support.git_fixtures import TestRepo
from tests.support.webhooks import delivery, pull_request_payload, push_payload

SITE = {"index.html": "<h1>hello</h1>\n"}
BRANCH_ALIAS = "feature-login--docs"
PR_ALIAS = "pr-4--docs"


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


@pytest.fixture
async def docs(api: TestClient[Any, Any], git_http: Any) -> tuple[TestRepo, str]:
    repo = git_http.create_repo(unique_name("site"), SITE)
    return repo, await create_project(api, name="docs", repo_url=repo.url)


@pytest.fixture
def deployer(
    redis_server: RedisServer,
    state: PlatformState,
    local_store_root: Path,
    git_allow_hosts: tuple[str, ...],
) -> Iterator[Deployer]:
    """The deploy job on a real Dagster instance, sharing the API's Redis and store."""
    with dg.instance_for_test() as instance:
        yield Deployer(
            instance,
            {
                "redis": RedisResource(url=redis_server.url, prefix=state.prefix),
                "object_store": ObjectStoreResource(url=local_store_root.as_uri()),
                "git_source": GitSourceResource(
                    allow_hosts=",".join(git_allow_hosts),
                    max_repo_bytes=64 * 1024 * 1024,
                    timeout_seconds=60,
                ),
                "build_runner": StaticBuildRunner(),
                "alias_index": AliasIndexResource(),
                "commit_status": CommitStatusResource(),
            },
        )


def push(
    repo: TestRepo, secret: str, sha: str, branch: str = "feature/login", message: str = "change"
) -> Any:
    return delivery(secret, "push", push_payload(repo.url, branch, sha, message=message))


def pull(
    repo: TestRepo, secret: str, sha: str, action: str = "synchronize", number: int = 4
) -> Any:
    return delivery(
        secret, "pull_request", pull_request_payload(repo.url, number, action, sha, "feature/login")
    )


# -- skip markers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "message, marker",
    [
        ("[CF-Pages-Skip] only docs", "[CF-Pages-Skip]"),
        ("[CI Skip] typo", "[CI Skip]"),
        ("[Skip-CI] typo", "[Skip-CI]"),
        ("Tidy up\n\nnothing to see [ci-skip]", "[ci-skip]"),
        ("[skip ci] as before", "[skip ci]"),
    ],
)
async def test_a_pull_request_whose_head_commit_says_skip_is_skipped_naming_the_marker(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    local_store_root: Path,
    caplog: pytest.LogCaptureFixture,
    message: str,
    marker: str,
) -> None:
    repo, secret = docs
    head = repo.commit({"index.html": "<h1>pr</h1>"}, message=message, branch="feature/login")

    with caplog.at_level(logging.INFO, logger="deploy_platform.api.webhooks"):
        status, answer = await send(api, pull(repo, secret, head, "opened"))

    assert status == 200, answer
    result = only_result(answer)
    assert (result["outcome"], result["marker"]) == ("skipped", marker)
    assert f"says {marker!r}" in result["reason"] and head[:12] in result["reason"]
    assert_nothing_accepted(state, local_store_root)
    assert any(marker in line and "skipped" in line for line in caplog.messages)


async def test_a_push_with_a_pages_marker_is_skipped_and_so_is_its_pull_request(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    local_store_root: Path,
) -> None:
    repo, secret = docs
    head = repo.commit({"a.html": "a"}, message="[cf-pages-skip] wip", branch="feature/login")

    pushed = await send(api, push(repo, secret, head, message="[cf-pages-skip] wip"))
    synced = await send(api, pull(repo, secret, head))

    for status, answer in (pushed, synced):
        assert status == 200, answer
        result = only_result(answer)
        assert (result["outcome"], result["marker"]) == ("skipped", "[cf-pages-skip]")
    assert_nothing_accepted(state, local_store_root)


async def test_a_push_without_a_head_commit_is_checked_in_the_repository(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    local_store_root: Path,
) -> None:
    repo, secret = docs
    head = repo.commit({"a.html": "a"}, message="[CF-Pages-Skip] x", branch="feature/login")
    payload = {**push_payload(repo.url, "feature/login", head), "head_commit": None}

    status, answer = await send(api, delivery(secret, "push", payload))

    assert (status, only_result(answer)["marker"]) == (200, "[CF-Pages-Skip]"), answer
    assert_nothing_accepted(state, local_store_root)


async def test_a_pull_request_on_an_old_server_is_still_checked_through_its_branch(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any, local_store_root: Path
) -> None:
    # Protocol v0 hands out branch tips only, and the branch moved on since the event.
    repo = git_http.create_repo(unique_name("old"), SITE, protocol_v2=False)
    secret = await create_project(api, name="docs", repo_url=repo.url)
    head = repo.commit({"a.html": "a"}, message="[Skip CI] later", branch="feature/login")
    repo.commit({"a.html": "b"}, message="next", branch="feature/login")

    status, answer = await send(api, pull(repo, secret, head, "opened"))

    assert (status, only_result(answer)["marker"]) == (200, "[Skip CI]"), answer
    assert_nothing_accepted(state, local_store_root)


async def test_a_pull_request_whose_message_cannot_be_read_is_deployed_saying_so(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("private"), SITE, private=True)
    secret = await create_project(api, name="docs", repo_url=repo.url)

    status, answer = await send(api, pull(repo, secret, "3" * 40, "opened"))

    assert status == 202, answer
    result = only_result(answer)
    assert result["outcome"] == "queued"
    assert "could not be checked for a skip marker" in result["reason"]
    assert queued_ids(state) == [result["id"]]


# -- one build for a push and its pull request ----------------------------------------


@pytest.mark.parametrize("push_first", [True, False], ids=["push-first", "pull-request-first"])
async def test_a_push_and_its_pull_requests_event_build_once(
    api: TestClient[Any, Any], state: PlatformState, docs: tuple[TestRepo, str], push_first: bool
) -> None:
    repo, secret = docs
    head = repo.commit({"index.html": "<h1>v2</h1>"}, branch="feature/login")
    deliveries = [push(repo, secret, head), pull(repo, secret, head)]
    if not push_first:
        deliveries.reverse()

    first = only_result((await send(api, deliveries[0]))[1])
    status, answer = await send(api, deliveries[1])

    assert status == 202, answer
    second = only_result(answer)
    assert (first["outcome"], second["outcome"]) == ("queued", "joined")
    assert second["id"] == first["id"] and second["commit"] == head
    assert "already deployed" in second["reason"] and "when it is ready" in second["reason"]
    assert queued_ids(state) == record_ids(state) == [first["id"]]
    record = state.get(first["id"])
    aliases = (BRANCH_ALIAS, PR_ALIAS) if push_first else (PR_ALIAS, BRANCH_ALIAS)
    assert record.aliases == aliases
    assert {f"http://{alias}.localhost:8080/" for alias in aliases} <= set(record.urls.values())
    assert second["urls"]["deployment"] == record.urls["deployment"]


async def test_deliveries_arriving_together_build_each_commit_once(
    api: TestClient[Any, Any], state: PlatformState, docs: tuple[TestRepo, str]
) -> None:
    repo, secret = docs
    heads = [repo.commit({"n.txt": str(n)}, branch="feature/login") for n in range(6)]

    answers = await asyncio.gather(
        *(
            send(api, sent)
            for head in heads
            for sent in (push(repo, secret, head), pull(repo, secret, head))
        )
    )

    assert all(status == 202 for status, _ in answers), answers
    by_commit: dict[str, set[str]] = {}
    for _, answer in answers:
        result = only_result(answer)
        by_commit.setdefault(result["commit"], set()).add(result["id"])
    assert set(by_commit) == set(heads)
    assert all(len(ids) == 1 for ids in by_commit.values()), by_commit
    assert sorted(queued_ids(state)) == record_ids(state)
    assert len(record_ids(state)) == len(heads)
    for ids in by_commit.values():
        assert set(state.get(next(iter(ids))).aliases) == {BRANCH_ALIAS, PR_ALIAS}


async def test_both_aliases_show_the_one_deployment_once_it_is_ready(
    api: TestClient[Any, Any],
    state: PlatformState,
    store: LocalObjectStore,
    docs: tuple[TestRepo, str],
    deployer: Deployer,
) -> None:
    repo, secret = docs
    head = repo.commit({"index.html": "<h1>v2</h1>"}, branch="feature/login")
    queued = only_result((await send(api, pull(repo, secret, head, "opened")))[1])
    await send(api, push(repo, secret, head))

    run = await asyncio.to_thread(deployer.run, queued["id"])

    assert run.success
    assert state.get(queued["id"]).status is Status.READY
    assert read_alias(store, BRANCH_ALIAS) == read_alias(store, PR_ALIAS) == queued["id"]
    assert served_text(store, queued["id"], "/index.html") == "<h1>v2</h1>"


async def test_an_event_for_a_ready_deployment_moves_its_alias_at_once(
    api: TestClient[Any, Any],
    state: PlatformState,
    store: LocalObjectStore,
    docs: tuple[TestRepo, str],
    deployer: Deployer,
) -> None:
    repo, secret = docs
    head = repo.commit({"index.html": "<h1>v2</h1>"}, branch="feature/login")
    queued = only_result((await send(api, push(repo, secret, head)))[1])
    assert (await asyncio.to_thread(deployer.run, queued["id"])).success
    assert read_alias(store, PR_ALIAS) is None

    sent = pull(repo, secret, head, "opened")
    status, answer = await send(api, sent)

    assert status == 202, answer
    result = only_result(answer)
    assert (result["outcome"], result["id"]) == ("joined", queued["id"])
    assert f"{PR_ALIAS} shows it now" in result["reason"]
    assert read_alias(store, PR_ALIAS) == read_alias(store, BRANCH_ALIAS) == queued["id"]
    assert queued_ids(state) == [queued["id"]]
    [move] = [m for m in list_moves(store, "docs") if m.alias == PR_ALIAS]
    assert (move.to_deployment, move.actor, move.reason) == (
        queued["id"],
        f"webhook:{sent.id}",
        "deploy",
    )

    # Closed, then reopened: the preview comes back on the same deployment, unbuilt.
    await send(api, pull(repo, secret, head, "closed"))
    assert read_alias(store, PR_ALIAS) is None
    status, answer = await send(api, pull(repo, secret, head, "reopened"))
    assert only_result(answer)["outcome"] == "joined"
    assert read_alias(store, PR_ALIAS) == queued["id"]
    assert queued_ids(state) == [queued["id"]]


async def test_the_same_commit_on_another_branch_is_its_own_deployment(
    api: TestClient[Any, Any], state: PlatformState, docs: tuple[TestRepo, str]
) -> None:
    repo, secret = docs
    head = repo.commit({"index.html": "<h1>v2</h1>"}, branch="feature/login")

    preview = only_result((await send(api, push(repo, secret, head)))[1])
    # A fast-forward merge: main now points at the same commit, and goes to production.
    production = only_result((await send(api, push(repo, secret, head, branch="main")))[1])

    assert (preview["outcome"], production["outcome"]) == ("queued", "queued")
    assert production["id"] != preview["id"]
    assert (production["environment"], production["alias"]) == ("production", "docs")
    assert state.get(preview["id"]).aliases == (BRANCH_ALIAS,)


async def test_a_failed_build_is_tried_again_by_the_next_event(
    api: TestClient[Any, Any], state: PlatformState, docs: tuple[TestRepo, str]
) -> None:
    repo, secret = docs
    head = repo.commit({"index.html": "<h1>v2</h1>"}, branch="feature/login")
    failed = only_result((await send(api, push(repo, secret, head)))[1])
    state.set_status(failed["id"], Status.FAILED, error="npm run build exited with 1")

    status, answer = await send(api, pull(repo, secret, head))

    assert status == 202, answer
    retried = only_result(answer)
    assert retried["outcome"] == "queued" and retried["id"] != failed["id"]
    assert state.get(retried["id"]).aliases == (PR_ALIAS,)
    assert queued_ids(state) == [failed["id"], retried["id"]]


async def test_an_event_arriving_while_the_deployment_publishes_still_gets_its_alias(
    api: TestClient[Any, Any],
    state: PlatformState,
    store: LocalObjectStore,
    docs: tuple[TestRepo, str],
    deployer: Deployer,
) -> None:
    # Whichever side of "ready" the second event lands on, its alias ends on the build.
    repo, secret = docs
    head = repo.commit({"index.html": "<h1>v2</h1>"}, branch="feature/login")
    queued = only_result((await send(api, push(repo, secret, head)))[1])

    run = asyncio.create_task(asyncio.to_thread(deployer.run, queued["id"]))
    while state.get(queued["id"]).status not in (Status.PUBLISHING, Status.READY, Status.FAILED):
        await asyncio.sleep(0.01)
    status, answer = await send(api, pull(repo, secret, head, "opened"))
    assert (await run).success

    assert status == 202 and only_result(answer)["id"] == queued["id"], answer
    assert read_alias(store, PR_ALIAS) == read_alias(store, BRANCH_ALIAS) == queued["id"]
    assert queued_ids(state) == [queued["id"]]
