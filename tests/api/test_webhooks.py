"""POST /api/webhooks/github[/<project>]: signed deliveries built by the tests, against the
real API, real Redis, a local store, and git repositories served over HTTP on loopback.

Most deliveries go to the shared URL (what earlier versions printed, and what a
repository built by several projects may use); the project's own URL has its
own tests below (the signature is checked before the body is parsed)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.api import create_app
from deploy_platform.contracts.manifest import alias_key
from deploy_platform.contracts.records import Environment, SourceKind, Status
from deploy_platform.publish.alias_moves import list_moves
from deploy_platform.publish.aliases import point_alias, read_alias
from deploy_platform.publish.cloudflare_kv import KVConfig
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.api.conftest import ApiClientFactory
from tests.api.test_commit_status import posted, with_github
from tests.support.alias_changes import announced
from tests.support.api_fixtures import (
    assert_nothing_accepted,
    queued_ids,
    record_ids,
    unique_name,
)
from tests.support.cloudflare_kv_server import ACCOUNT, NAMESPACE, FakeCloudflareKV
from tests.support.cloudflare_kv_server import TOKEN as CF_TOKEN
from tests.support.git_fixtures import TestRepo
from tests.support.github_repos import github_shaped_repo
from tests.support.github_status_server import FakeGitHub
from tests.support.webhooks import (
    Delivery,
    delivery,
    ping_payload,
    pull_request_payload,
    push_payload,
)

SITE = {"index.html": "<h1>hello</h1>\n"}
WEBHOOK = "/api/webhooks/github"


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


async def create_project(api: TestClient[Any, Any], **fields: Any) -> str:
    """Create a project over the API; its webhook secret (shown this once)."""
    async with api.post("/api/projects", json=fields) as response:
        answer = await response.json()
        assert response.status == 201, answer
    return str(answer["webhook_secret"])


@pytest.fixture
async def docs(api: TestClient[Any, Any], git_http: Any) -> tuple[TestRepo, str]:
    """A repository on the loopback git server and project `docs` building it; its secret."""
    repo = git_http.create_repo(unique_name("site"), SITE)
    return repo, await create_project(api, name="docs", repo_url=repo.url)


async def send(
    api: TestClient[Any, Any], sent: Delivery, project: str | None = None
) -> tuple[int, dict[str, Any]]:
    """POST to the shared URL, or to `project`'s own one."""
    url = WEBHOOK if project is None else f"{WEBHOOK}/{project}"
    async with api.post(url, data=sent.body, headers=sent.headers) as response:
        return response.status, await response.json()


def only_result(answer: dict[str, Any]) -> dict[str, Any]:
    [result] = answer["results"]
    return dict(result)


# -- deploying ----------------------------------------------------------------------


async def test_a_push_deploys_the_pushed_commit_through_the_deploy_path(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    secret = await create_project(
        api,
        name="docs",
        repo_url=repo.url,
        build={"build_command": "make site", "env": {"API_KEY": "project-secret"}},
    )
    pushed = repo.commit({"index.html": "<h1>v2</h1>"}, branch="feature/login")
    # The branch moved on since: the delivery's commit is built, not the branch head.
    repo.commit({"index.html": "<h1>v3</h1>"}, branch="feature/login")

    status, answer = await send(
        api, delivery(secret, "push", push_payload(repo.url, "feature/login", pushed))
    )

    assert status == 202, answer
    result = only_result(answer)
    assert result["outcome"] == "queued" and result["project"] == "docs"
    assert (result["environment"], result["alias"]) == ("preview", "feature-login--docs")
    assert result["urls"]["preview"] == "http://feature-login--docs.localhost:8080/"
    assert result["status_url"] == f"/api/deployments/{result['id']}"
    record = state.get(result["id"])
    assert record.commit == pushed != repo.head("feature/login")
    assert (record.ref, record.trigger, record.source) == (
        "feature/login",
        "webhook",
        SourceKind.GIT,
    )
    assert record.status is Status.QUEUED and record.repo_url == repo.url
    assert record.aliases == ("feature-login--docs",)
    # The project's build settings apply, as for POST /api/deployments.
    assert record.build["build_command"] == "make site"
    assert record.build["env"] == {"API_KEY": "project-secret"}
    assert "project-secret" not in json.dumps(answer)
    assert queued_ids(state) == [result["id"]]
    async with api.get(result["status_url"]) as response:
        assert (await response.json())["trigger"] == "webhook"


async def test_a_push_to_the_production_branch_moves_production(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE, branch="trunk")
    secret = await create_project(api, name="docs", repo_url=repo.url, production_branch="trunk")

    status, answer = await send(
        api, delivery(secret, "push", push_payload(repo.url, "trunk", repo.head("trunk")))
    )

    assert status == 202, answer
    record = state.get(only_result(answer)["id"])
    assert record.environment is Environment.PRODUCTION and record.aliases == ("docs",)


async def test_a_webhook_deploy_marks_the_commit_pending_on_github(
    api_for: ApiClientFactory,
    settings: Settings,
    state: PlatformState,
    git_http: Any,
    github_api: FakeGitHub,
) -> None:
    repo = github_shaped_repo(git_http, unique_name("site"), SITE)
    api = await api_for(with_github(settings, github_api.url))
    secret = await create_project(api, name="shop", repo_url=repo.url)

    status, answer = await send(
        api, delivery(secret, "push", push_payload(repo.url, "feature/cart", repo.head))
    )
    await posted(api)

    assert status == 202, answer
    deployment_id = only_result(answer)["id"]
    [request] = github_api.requests
    assert request.method == "POST"
    assert request.path == f"/repos/acme/{repo.name}/statuses/{repo.head}"
    assert request.json() == {
        "state": "pending",
        "description": f"Queued: preview deployment {deployment_id}",
        "context": "deploy-platform/shop",
    }


async def test_a_pull_request_is_built_at_its_own_preview(
    api: TestClient[Any, Any], state: PlatformState, docs: tuple[TestRepo, str]
) -> None:
    repo, secret = docs
    head = repo.commit({"index.html": "<h1>pr</h1>"}, branch="fix-typo")

    ids = []
    for action in ("opened", "synchronize", "reopened"):
        payload = pull_request_payload(repo.url, 12, action, head, "fix-typo")
        status, answer = await send(api, delivery(secret, "pull_request", payload))
        assert status == 202, answer
        result = only_result(answer)
        assert (result["alias"], result["environment"]) == ("pr-12--docs", "preview")
        assert result["urls"]["preview"] == "http://pr-12--docs.localhost:8080/"
        record = state.get(result["id"])
        assert (record.commit, record.ref, record.repo_url) == (head, "fix-typo", repo.url)
        ids.append((result["outcome"], result["id"]))
    # The same head commit is built once: later events join that deployment.
    first = ids[0][1]
    assert ids == [("queued", first), ("joined", first), ("joined", first)]
    assert queued_ids(state) == [first]
    assert state.get(first).aliases == ("pr-12--docs",)


async def test_a_pull_request_from_a_fork_is_built_only_when_the_project_allows_it(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    base = git_http.create_repo(unique_name("site"), SITE)
    fork = git_http.create_repo(unique_name("fork"), SITE)
    head = fork.commit({"index.html": "<h1>from a fork</h1>"}, branch="main")
    secret = await create_project(api, name="docs", repo_url=base.url)
    payload = pull_request_payload(base.url, 3, "opened", head, "main", head_clone_url=fork.url)

    status, answer = await send(api, delivery(secret, "pull_request", payload))
    assert status == 200, answer
    result = only_result(answer)
    assert result["outcome"] == "skipped" and "build_forks" in result["reason"]
    assert queued_ids(state) == []

    async with api.patch("/api/projects/docs", json={"build_forks": True}) as response:
        assert response.status == 200
    status, answer = await send(api, delivery(secret, "pull_request", payload))
    assert status == 202, answer
    record = state.get(only_result(answer)["id"])
    # Fetched from the fork, where the commit is; previewed, never production.
    assert (record.repo_url, record.commit) == (fork.url, head)
    assert record.environment is Environment.PREVIEW and record.aliases == ("pr-3--docs",)


async def test_a_fork_pull_request_is_marked_pending_on_the_base_repository(
    api_for: ApiClientFactory,
    settings: Settings,
    state: PlatformState,
    git_http: Any,
    github_api: FakeGitHub,
) -> None:
    # GitHub shows a pull request's statuses from the base repository, not the fork.
    base = github_shaped_repo(git_http, unique_name("site"), SITE)
    fork = github_shaped_repo(
        git_http, unique_name("fork"), {"index.html": "<h1>fork</h1>"}, owner="contributor"
    )
    api = await api_for(with_github(settings, github_api.url))
    secret = await create_project(api, name="docs", repo_url=base.url, build_forks=True)
    payload = pull_request_payload(
        base.url, 8, "opened", fork.head, "main", head_clone_url=fork.url
    )

    status, answer = await send(api, delivery(secret, "pull_request", payload))
    await posted(api)

    assert status == 202, answer
    record = state.get(only_result(answer)["id"])
    assert (record.repo_url, record.status_repo_url) == (fork.url, base.url)
    [request] = github_api.requests
    assert request.path == f"/repos/acme/{base.name}/statuses/{fork.head}"
    assert request.json()["state"] == "pending"


async def test_a_fork_url_the_platform_may_not_fetch_is_skipped_saying_why(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    base = git_http.create_repo(unique_name("site"), SITE)
    secret = await create_project(api, name="docs", repo_url=base.url, build_forks=True)
    payload = pull_request_payload(
        base.url, 3, "opened", "b" * 40, "main", head_clone_url="http://10.1.2.3/evil/site.git"
    )

    status, answer = await send(api, delivery(secret, "pull_request", payload))

    assert status == 200, answer
    result = only_result(answer)
    assert result["outcome"] == "skipped" and "private" in result["reason"]
    assert queued_ids(state) == []


async def test_every_project_building_the_repository_gets_its_own_deployment(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    docs = await create_project(api, name="docs", repo_url=repo.url)
    # The same repository spelled differently is the same repository.
    blog = await create_project(api, name="blog", repo_url=repo.url.removesuffix(".git") + "/")
    payload = push_payload(repo.url, "main", repo.head())

    # One webhook per project on GitHub: each signs with its own secret.
    first = await send(api, delivery(docs, "push", payload))
    second = await send(api, delivery(blog, "push", payload))

    assert first[0] == second[0] == 202
    assert [r["project"] for r in first[1]["results"]] == ["docs"]
    assert [r["project"] for r in second[1]["results"]] == ["blog"]
    projects = sorted(state.get(i).project for i in queued_ids(state))
    assert projects == ["blog", "docs"]


# -- nothing to deploy ----------------------------------------------------------------


async def test_an_organization_ping_without_a_repository_answers_200_and_does_nothing(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    payload = {"zen": "Design for failure.", "hook_id": 7, "organization": {"login": "acme"}}

    status, answer = await send(api, delivery("not-a-project-secret", "ping", payload))

    assert (status, answer["event"], answer["results"]) == (200, "ping", [])
    assert_nothing_accepted(state, local_store_root)


@pytest.mark.parametrize(
    "event, payload_of, outcome, says",
    [
        ("ping", lambda url, sha: ping_payload(url), "ignored", "ping"),
        ("issues", lambda url, sha: {**ping_payload(url), "action": "opened"}, "ignored", "issues"),
        ("push", lambda url, sha: push_payload(url, "", sha, ref="refs/tags/v1"), "ignored", "tag"),
        (
            "push",
            lambda url, sha: push_payload(url, "main", sha, message="Docs [skip ci]"),
            "skipped",
            "[skip ci]",
        ),
        (
            "push",
            lambda url, sha: push_payload(url, "main", sha, message="[ci skip] typo"),
            "skipped",
            "[ci skip]",
        ),
        (
            "push",
            lambda url, sha: push_payload(url, "dependabot/npm/x", sha),
            "skipped",
            "exclude pattern",
        ),
        ("push", lambda url, sha: push_payload(url, "wip", sha), "skipped", "no include pattern"),
        (
            "push",
            lambda url, sha: push_payload(url, "feature/a..b", sha),
            "skipped",
            "not a valid branch",
        ),
        (
            "pull_request",
            lambda url, sha: pull_request_payload(url, 4, "labeled", sha, "x"),
            "ignored",
            "labeled",
        ),
    ],
)
async def test_deliveries_with_nothing_to_deploy_answer_200_and_do_nothing(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    local_store_root: Path,
    event: str,
    payload_of: Callable[[str, str], dict[str, Any]],
    outcome: str,
    says: str,
) -> None:
    repo, secret = docs

    status, answer = await send(api, delivery(secret, event, payload_of(repo.url, repo.head())))

    assert status == 200, answer
    result = only_result(answer)
    assert result["outcome"] == outcome and says in result["reason"]
    assert_nothing_accepted(state, local_store_root)
    assert not (local_store_root / "aliases").exists()


@pytest.mark.parametrize(
    "branch",
    [
        "feature/a/b/c",
        "feature/ünïcødé",
        "feature/日本語",
        "feature/" + "x" * 192,
        "feature/" + "ü" * 192,
        "feature/PR-7",
    ],
)
async def test_odd_branch_names_get_a_valid_preview_host(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any, branch: str
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    secret = await create_project(api, name="a-rather-long-project-name-of-32", repo_url=repo.url)

    status, answer = await send(
        api, delivery(secret, "push", push_payload(repo.url, branch, "c" * 40))
    )

    assert status == 202, answer
    result = only_result(answer)
    alias = result["alias"]
    assert len(alias) <= 63 and alias.endswith("--a-rather-long-project-name-of-32")
    assert result["urls"]["preview"] == f"http://{alias}.localhost:8080/"
    assert state.get(result["id"]).ref == branch


# -- refusals: nothing happens --------------------------------------------------------


async def test_bad_signatures_are_401_and_do_nothing(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    local_store_root: Path,
) -> None:
    repo, secret = docs
    good = delivery(secret, "push", push_payload(repo.url, "main", repo.head()))
    changed = bytearray(good.body)
    changed[good.body.index(b"refs/heads/main") + len("refs/heads/m")] = ord("M")

    for sent, says in [
        (good.with_headers(X_Hub_Signature_256=None), "is missing"),
        (good.with_headers(X_Hub_Signature_256="sha256=abc"), "64 hex digits"),
        (
            good.with_headers(X_Hub_Signature="sha1=" + "0" * 40, X_Hub_Signature_256=None),
            "missing",
        ),
        (delivery("not-the-secret", "push", json.loads(good.body)), "does not match"),
        (good.with_body(bytes(changed)), "does not match"),  # one changed byte
        (good.with_body(good.body + b" "), "does not match"),
    ]:
        status, answer = await send(api, sent)
        assert status == 401, answer
        assert answer["error"]["code"] == "invalid_signature"
        assert says in answer["error"]["message"]
        assert answer["error"]["field"] == "X-Hub-Signature-256"
    assert_nothing_accepted(state, local_store_root)
    # The untouched delivery is fine.
    assert (await send(api, good))[0] == 202


async def test_a_rotated_secret_stops_the_old_one_and_a_deleted_project_gets_401(
    api: TestClient[Any, Any], state: PlatformState, git_http: Any, local_store_root: Path
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    old = await create_project(api, name="docs", repo_url=repo.url)
    payload = push_payload(repo.url, "main", repo.head())
    async with api.post("/api/projects/docs/webhook-secret") as response:
        new = (await response.json())["webhook_secret"]

    assert (await send(api, delivery(old, "push", payload)))[0] == 401
    assert_nothing_accepted(state, local_store_root)
    assert (await send(api, delivery(new, "push", payload)))[0] == 202

    async with api.delete("/api/projects/docs") as response:
        assert response.status == 200
    for project in (None, "docs"):
        status, answer = await send(api, delivery(new, "push", payload), project)
        assert status == 401 and answer["error"]["code"] == "invalid_signature", answer
    assert len(record_ids(state)) == 1


async def test_an_unknown_repository_or_project_is_the_same_401_as_a_bad_signature(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    local_store_root: Path,
) -> None:
    """The answer tells a stranger nothing about which repositories or projects are built."""
    repo, secret = docs
    url = "https://github.com/acme/nobody-builds-this.git"
    answers = []
    for sent, project in [
        (delivery("x", "push", push_payload(url, "main", "d" * 40)), None),  # unknown repo
        (delivery("wrong", "push", push_payload(repo.url, "main", repo.head())), None),
        (delivery("wrong", "push", push_payload(repo.url, "main", repo.head())), "docs"),
        (delivery(secret, "push", push_payload(repo.url, "main", repo.head())), "nobody"),
        (delivery("x", "push", push_payload(url, "main", "d" * 40)), "Not_A_Name"),
    ]:
        status, answer = await send(api, sent, project)
        assert status == 401, answer
        answers.append(answer)

    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0]["error"]["code"] == "invalid_signature"
    assert "Secret field" in answers[0]["error"]["message"]
    assert_nothing_accepted(state, local_store_root)


@pytest.mark.parametrize(
    "raw, code, says",
    [
        (b"", "malformed_json", "not JSON"),
        (b'{"ref": "refs/heads/main",', "malformed_json", "not JSON"),
        (b"\xff\xfe\x00{", "malformed_json", "not JSON"),
        (b"[1, 2, 3]", "invalid_payload", "not an array"),
        (b'{"ref": "refs/heads/main"}', "invalid_payload", "repository.clone_url"),
        (b'{"repository": {"clone_url": "ssh://x/y.git"}}', "invalid_payload", "names no repo"),
    ],
)
async def test_bodies_that_name_no_repository_are_400(
    api: TestClient[Any, Any],
    state: PlatformState,
    local_store_root: Path,
    raw: bytes,
    code: str,
    says: str,
) -> None:
    status, answer = await send(api, delivery("s", "push", None, raw=raw))

    assert status == 400, answer
    assert answer["error"]["code"] == code and says in answer["error"]["message"]
    assert_nothing_accepted(state, local_store_root)


async def test_signed_payloads_missing_fields_are_400_naming_them(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    local_store_root: Path,
) -> None:
    repo, secret = docs
    full = push_payload(repo.url, "main", repo.head())

    for payload, field in [
        ({k: v for k, v in full.items() if k != "after"}, "after"),
        ({**full, "after": "HEAD"}, "after"),
        ({**full, "ref": None}, "ref"),
        ({**full, "head_commit": "x"}, "head_commit"),
    ]:
        status, answer = await send(api, delivery(secret, "push", payload))
        assert status == 400, answer
        assert answer["error"]["code"] == "invalid_payload"
        assert answer["error"]["field"] == field

    base = pull_request_payload(repo.url, 5, "opened", repo.head(), "x")
    broken = {**base, "pull_request": {**base["pull_request"], "base": {}}}
    status, answer = await send(api, delivery(secret, "pull_request", broken))
    assert status == 400 and answer["error"]["field"] == "pull_request.base.repo"
    assert_nothing_accepted(state, local_store_root)


async def test_signed_deliveries_without_githubs_headers_are_400(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    local_store_root: Path,
) -> None:
    repo, secret = docs
    good = delivery(secret, "push", push_payload(repo.url, "main", repo.head()))

    for sent, code, field in [
        (good.with_headers(X_GitHub_Event=None), "missing_header", "X-GitHub-Event"),
        (good.with_headers(X_GitHub_Delivery=None), "missing_header", "X-GitHub-Delivery"),
        (good.with_headers(X_GitHub_Delivery="../../x"), "invalid_header", "X-GitHub-Delivery"),
    ]:
        status, answer = await send(api, sent)
        assert status == 400, answer
        assert (answer["error"]["code"], answer["error"]["field"]) == (code, field)
    assert_nothing_accepted(state, local_store_root)


async def test_a_form_encoded_delivery_is_415_saying_to_choose_json(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    sent = delivery("s", "push", None, raw=b"payload=%7B%7D").with_headers(
        Content_Type="application/x-www-form-urlencoded"
    )
    status, answer = await send(api, sent)

    assert status == 415, answer
    assert "application/json" in answer["error"]["message"]
    assert_nothing_accepted(state, local_store_root)


async def test_a_delivery_over_25_mb_is_413_even_when_streamed(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    local_store_root: Path,
) -> None:
    headers = delivery(docs[1], "push", {}).headers
    url = f"{WEBHOOK}/docs"
    # Announced too large: refused before a byte of the body is read (none is sent).
    reader, writer = await asyncio.open_connection(api.host, api.port)
    head = [f"POST {url} HTTP/1.1", f"Host: {api.host}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append(f"Content-Length: {25 * 1024 * 1024 + 1}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"413", status_line

    async def chunks() -> AsyncIterator[bytes]:
        chunk = b" " * (1024 * 1024)
        for _ in range(26):
            yield chunk

    # No Content-Length: chunked, so the limit is enforced while reading.
    async with api.post(url, data=chunks(), headers=headers) as response:
        answer = await response.json()
        assert response.status == 413, answer
    assert answer["error"]["code"] == "body_too_large" and "25 MB" in answer["error"]["message"]
    assert_nothing_accepted(state, local_store_root)


async def test_a_large_delivery_under_25_mb_is_taken_at_the_projects_own_url(
    api: TestClient[Any, Any], state: PlatformState, docs: tuple[TestRepo, str]
) -> None:
    """The API's 64 KiB limit for JSON requests does not apply to deliveries; the shared
    URL's 1 MB budget for reading unsigned bodies sends big ones to the project's URL."""
    repo, secret = docs
    payload = push_payload(repo.url, "main", repo.head())
    payload["commits"] = [{"id": "e" * 40, "message": "x" * 1000}] * 2000  # about 2 MB
    sent = delivery(secret, "push", payload)

    status, answer = await send(api, sent)
    assert status == 413, answer
    assert "/api/webhooks/github/<project>" in answer["error"]["message"]
    assert record_ids(state) == []

    status, answer = await send(api, sent, "docs")
    assert status == 202, answer


async def test_the_shared_url_refuses_to_parse_an_unsigned_body_full_of_containers(
    api: TestClient[Any, Any], state: PlatformState, docs: tuple[TestRepo, str]
) -> None:
    """Under 1 MB but 100,000 objects: parsing it unproven would cost ~10 MB each time."""
    repo, secret = docs
    payload = push_payload(repo.url, "main", repo.head())
    payload["filler"] = [{}] * 100_000
    sent = delivery(secret, "push", payload)
    assert len(sent.body) < 1024 * 1024

    status, answer = await send(api, sent)
    assert status == 413, answer
    assert answer["error"]["code"] == "payload_too_complex"
    assert "/api/webhooks/github/<project>" in answer["error"]["message"]
    assert record_ids(state) == []
    # Signed, at the project's URL: taken.
    assert (await send(api, sent, "docs"))[0] == 202


async def test_the_projects_own_url_deploys_and_checks_the_signature_before_parsing(
    api: TestClient[Any, Any],
    state: PlatformState,
    docs: tuple[TestRepo, str],
    git_http: Any,
    local_store_root: Path,
) -> None:
    repo, secret = docs
    async with api.get("/api/projects/docs") as response:
        assert (await response.json())["webhook_path"] == "/api/webhooks/github/docs"

    # Not JSON and not signed by docs' secret: the signature decides, not the parser.
    garbage = delivery("wrong", "push", None, raw=b"[" * 100_000)
    status, answer = await send(api, garbage, "docs")
    assert status == 401 and answer["error"]["code"] == "invalid_signature", answer
    # Signed but nested too deep: 400 naming the limit.
    status, answer = await send(api, delivery(secret, "push", None, raw=b"[" * 100_000), "docs")
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_json"
    assert "deeper than 64 levels" in answer["error"]["message"]
    # Signed by docs' secret, but for another repository: said so.
    other = git_http.create_repo(unique_name("other"), SITE)
    sent = delivery(secret, "push", push_payload(other.url, "main", other.head()))
    status, answer = await send(api, sent, "docs")
    assert status == 400 and answer["error"]["code"] == "repository_mismatch", answer
    assert_nothing_accepted(state, local_store_root)

    status, answer = await send(
        api, delivery(secret, "push", push_payload(repo.url, "main", repo.head())), "docs"
    )
    assert status == 202, answer
    assert only_result(answer)["environment"] == "production"
    assert len(queued_ids(state)) == 1


async def test_the_webhook_needs_no_api_token_but_the_rest_still_does(
    api_for: ApiClientFactory, settings: Settings, state: PlatformState, git_http: Any
) -> None:
    api = await api_for(dataclasses.replace(settings, api_token="api-token-for-tests"))
    repo = git_http.create_repo(unique_name("site"), SITE)
    auth = {"Authorization": "Bearer api-token-for-tests"}
    async with api.post(
        "/api/projects", json={"name": "docs", "repo_url": repo.url}, headers=auth
    ) as r:
        secret = (await r.json())["webhook_secret"]

    status, _ = await send(
        api, delivery(secret, "push", push_payload(repo.url, "main", repo.head()))
    )
    assert status == 202
    async with api.get("/api/projects") as response:
        assert response.status == 401


# -- at most once per delivery ----------------------------------------------------------


async def test_the_same_delivery_twice_deploys_once(
    api: TestClient[Any, Any], state: PlatformState, docs: tuple[TestRepo, str]
) -> None:
    repo, secret = docs
    sent = delivery(secret, "push", push_payload(repo.url, "main", repo.head()))

    first_status, first = await send(api, sent)
    again_status, again = await send(api, sent)  # GitHub's "Redeliver" keeps the id

    assert (first_status, again_status) == (202, 200)
    deployment_id = only_result(first)["id"]
    result = only_result(again)
    assert result["outcome"] == "duplicate"
    assert result["first"]["id"] == deployment_id
    assert queued_ids(state) == [deployment_id] and record_ids(state) == [deployment_id]
    ttl = state.redis.ttl(state.key("webhook-delivery", sent.id, "docs"))
    assert 0 < ttl <= 7 * 24 * 3600
    # Another delivery of the same push (a new id) is a new request, and deploys.
    assert (await send(api, delivery(secret, "push", json.loads(sent.body))))[0] == 202


async def test_copies_arriving_together_deploy_once(
    api: TestClient[Any, Any], state: PlatformState, docs: tuple[TestRepo, str]
) -> None:
    repo, secret = docs
    sent = delivery(secret, "push", push_payload(repo.url, "main", repo.head()))

    answers = await asyncio.gather(*(send(api, sent) for _ in range(5)))

    outcomes = sorted(only_result(answer)["outcome"] for _, answer in answers)
    assert outcomes == ["duplicate"] * 4 + ["queued"]
    assert len(queued_ids(state)) == 1


async def test_the_delivery_ttl_is_a_setting(
    api_for: ApiClientFactory, settings: Settings, state: PlatformState, git_http: Any
) -> None:
    api = await api_for(dataclasses.replace(settings, webhook_delivery_ttl_seconds=60))
    repo = git_http.create_repo(unique_name("site"), SITE)
    secret = await create_project(api, name="docs", repo_url=repo.url)
    sent = delivery(secret, "push", push_payload(repo.url, "main", repo.head()))
    await send(api, sent)

    assert 0 < state.redis.ttl(state.key("webhook-delivery", sent.id, "docs")) <= 60


def test_a_bad_delivery_ttl_setting_is_refused_naming_it(tmp_path: Path) -> None:
    for bad in ("0", "-5", "week", "1.5"):
        with pytest.raises(ValueError, match="DP_WEBHOOK_DELIVERY_TTL_SECONDS"):
            Settings.from_env(
                {"DP_STATE_DIR": str(tmp_path), "DP_WEBHOOK_DELIVERY_TTL_SECONDS": bad}
            )
    assert Settings.from_env({"DP_STATE_DIR": str(tmp_path)}).webhook_delivery_ttl_seconds == (
        7 * 24 * 3600
    )


# -- taking previews down -----------------------------------------------------------------


async def test_deleting_a_branch_takes_its_preview_down_and_keeps_the_deployment(
    api: TestClient[Any, Any],
    state: PlatformState,
    store: LocalObjectStore,
    docs: tuple[TestRepo, str],
    alias_changes: Any,
) -> None:
    repo, secret = docs

    async def push(branch: str, files: dict[str, str]) -> str:
        head = repo.commit(files, branch=branch)
        answer = (await send(api, delivery(secret, "push", push_payload(repo.url, branch, head))))[
            1
        ]
        return str(only_result(answer)["id"])

    live = await push("feature/x", {"index.html": "<h1>x</h1>"})
    state.set_status(live, Status.READY)  # what publishing does, with:
    point_alias(store, state, "feature-x--docs", live)
    point_alias(store, state, "docs", live)
    building = await push("feature/x", {"index.html": "<h1>x2</h1>"})
    state.set_status(building, Status.BUILDING)
    other = await push("feature/y", {"index.html": "<h1>y</h1>"})
    announced(alias_changes)

    repo.delete_branch("feature/x")
    deleted = delivery(secret, "push", push_payload(repo.url, "feature/x", "0" * 40, deleted=True))
    status, answer = await send(api, deleted)

    assert status == 200, answer
    result = only_result(answer)
    assert result["outcome"] == "alias_removed" and result["deployment"] == live
    assert result["alias"] == "feature-x--docs"
    # The alias move log says who took it down, and from what.
    removal = list_moves(store, "docs")[0]
    assert (removal.alias, removal.from_deployment, removal.to_deployment) == (
        "feature-x--docs",
        live,
        None,
    )
    assert (removal.reason, removal.actor) == ("branch-deleted", f"webhook:{deleted.id}")
    assert not store.exists(alias_key("feature-x--docs"))
    assert state.get_alias("feature-x--docs") is None
    assert announced(alias_changes) == ["feature-x--docs"]  # edge-origins drop their answer
    # The build still running will not bring the preview back when it publishes.
    assert result["detached"] == [building]
    detached = state.get(building)
    assert detached.aliases == () and list(detached.urls) == ["deployment"]
    assert detached.status is Status.BUILDING
    # The deployments, every other alias and the other branch's build stay as they were.
    assert state.get(live).aliases == ("feature-x--docs",)
    assert read_alias(store, "docs") == live
    assert state.get(other).aliases == ("feature-y--docs",)
    assert queued_ids(state) == [live, building, other]


async def test_deleting_the_production_branch_leaves_production_serving(
    api: TestClient[Any, Any],
    state: PlatformState,
    store: LocalObjectStore,
    docs: tuple[TestRepo, str],
) -> None:
    repo, secret = docs
    point_alias(store, state, "docs", "aaaaaaaaaaa2")

    status, answer = await send(
        api, delivery(secret, "push", push_payload(repo.url, "main", repo.head(), deleted=True))
    )

    assert status == 200, answer
    assert "production keeps serving" in only_result(answer)["reason"]
    assert read_alias(store, "docs") == "aaaaaaaaaaa2" == state.get_alias("docs")


async def test_deleting_a_branch_keeps_a_preview_another_branch_now_shows(
    api: TestClient[Any, Any], state: PlatformState, store: LocalObjectStore, git_http: Any
) -> None:
    """`feature/a` and `feature-a` share the slug `feature-a`: the last push owns the alias."""
    repo = git_http.create_repo(unique_name("site"), SITE)
    secret = await create_project(
        api, name="docs", repo_url=repo.url, branches={"include": ["feature*"]}
    )
    head = repo.commit({"a": "1"}, branch="feature-a")
    status, answer = await send(
        api, delivery(secret, "push", push_payload(repo.url, "feature-a", head))
    )
    point_alias(store, state, "feature-a--docs", only_result(answer)["id"])

    status, answer = await send(
        api, delivery(secret, "push", push_payload(repo.url, "feature/a", head, deleted=True))
    )

    assert status == 200 and only_result(answer)["outcome"] == "no_alias"
    assert read_alias(store, "feature-a--docs") is not None


async def test_closing_a_pull_request_takes_its_preview_down(
    api: TestClient[Any, Any],
    state: PlatformState,
    store: LocalObjectStore,
    docs: tuple[TestRepo, str],
) -> None:
    repo, secret = docs
    point_alias(store, state, "pr-4--docs", "aaaaaaaaaaa2")
    opened = pull_request_payload(repo.url, 4, "synchronize", repo.head(), "x")
    queued = only_result((await send(api, delivery(secret, "pull_request", opened)))[1])["id"]

    payload = pull_request_payload(repo.url, 4, "closed", repo.head(), "x")
    closed = delivery(secret, "pull_request", payload)
    status, answer = await send(api, closed)

    assert status == 200, answer
    result = only_result(answer)
    assert result["outcome"] == "alias_removed" and result["detached"] == [queued]
    assert read_alias(store, "pr-4--docs") is None and state.get_alias("pr-4--docs") is None
    [removal] = list_moves(store, "docs")
    assert (removal.alias, removal.from_deployment, removal.to_deployment) == (
        "pr-4--docs",
        "aaaaaaaaaaa2",
        None,
    )
    assert (removal.reason, removal.actor) == ("pull-request-closed", f"webhook:{closed.id}")
    assert state.get(queued).aliases == ()
    # Closed again (a redelivery, or closed twice): nothing left to take down.
    status, answer = await send(api, delivery(secret, "pull_request", payload))
    assert only_result(answer)["outcome"] == "no_alias"


async def test_a_removed_preview_leaves_the_workers_kv_index_too(
    aiohttp_client: Any,
    settings: Settings,
    state: PlatformState,
    store: LocalObjectStore,
    docs: tuple[TestRepo, str],
    cloudflare_kv: FakeCloudflareKV,
) -> None:
    kv = KVConfig.from_values(cloudflare_kv.url, ACCOUNT, NAMESPACE, CF_TOKEN)
    api: TestClient[Any, Any] = await aiohttp_client(create_app(settings, kv=kv))
    repo, secret = docs
    cloudflare_kv.values["feature-x--docs"] = b'{"deployment": "aaaaaaaaaaa2"}'
    point_alias(store, state, "feature-x--docs", "aaaaaaaaaaa2")

    status, answer = await send(
        api, delivery(secret, "push", push_payload(repo.url, "feature/x", "f" * 40, deleted=True))
    )

    assert status == 200 and only_result(answer)["outcome"] == "alias_removed"
    assert "feature-x--docs" not in cloudflare_kv.values
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in cloudflare_kv.requests] == [
        ("DELETE", "feature-x--docs")
    ]
