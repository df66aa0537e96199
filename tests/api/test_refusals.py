"""Bad input to POST /api/deployments: a clear 4xx JSON error, and nothing stored or queued."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.processes.ports import free_port
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.redis_state import PlatformState
from tests.api.conftest import ApiClientFactory
from tests.support.api_fixtures import assert_nothing_accepted, unique_name

GOOD = {"repo_url": "https://example.com/owner/site.git", "ref": "main", "project": "docs"}


async def refused(
    response: Any, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """Check the error's shape, status, code and field; return the error object."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    error = (await response.json())["error"]
    assert error["code"] == code, error
    assert error.get("field") == field, error
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    return dict(error)


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b'{"repo_url": ', "malformed_json", "not valid JSON"),
        (b"{'repo_url': 'x'}", "malformed_json", "not valid JSON"),
        (b"", "malformed_json", "empty"),
        (b"\xff\xfe{}", "malformed_json", "UTF-8"),
        (b'["https://example.com/site.git"]', "invalid_body", "JSON object"),
        (b'"https://example.com/site.git"', "invalid_body", "JSON object"),
        (b"null", "invalid_body", "JSON object"),
    ],
    ids=["truncated", "single-quotes", "empty", "not-utf8", "array", "string", "null"],
)
async def test_a_body_that_is_not_a_json_object_is_refused(
    api: TestClient[Any, Any],
    state: PlatformState,
    local_store_root: Path,
    body: bytes,
    code: str,
    fragment: str,
) -> None:
    response = await api.post(
        "/api/deployments", data=body, headers={"Content-Type": "application/json"}
    )

    error = await refused(response, 400, code)
    assert fragment in error["message"]
    assert_nothing_accepted(state, local_store_root)


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"repo_url": None}, "missing_field", "repo_url"),
        ({"project": None}, "missing_field", "project"),
        ({"repo_url": 42}, "invalid_type", "repo_url"),
        ({"repo_url": ["https://example.com/a.git"]}, "invalid_type", "repo_url"),
        ({"ref": None}, "invalid_type", "ref"),
        ({"ref": 7}, "invalid_type", "ref"),
        ({"project": {"name": "docs"}}, "invalid_type", "project"),
        ({"project": True}, "invalid_type", "project"),
        ({"branch": "main"}, "unknown_field", "branch"),
    ],
    ids=[
        "no-repo-url",
        "no-project",
        "repo-url-number",
        "repo-url-array",
        "ref-null",
        "ref-number",
        "project-object",
        "project-bool",
        "unknown-branch",
    ],
)
async def test_missing_mistyped_and_unknown_fields_are_named(
    api: TestClient[Any, Any],
    state: PlatformState,
    local_store_root: Path,
    change: dict[str, Any],
    code: str,
    field: str,
) -> None:
    body: dict[str, Any] = dict(GOOD)
    for name, value in change.items():
        if value is None and code == "missing_field":
            del body[name]
        else:
            body[name] = value

    error = await refused(await api.post("/api/deployments", json=body), 400, code, field)

    assert field in error["message"]
    assert_nothing_accepted(state, local_store_root)


@pytest.mark.parametrize(
    "repo_url",
    [
        "file:///etc",
        "FILE:///srv/git/site.git",
        "ext::sh -c touch% /tmp/pwned",
        "ext::sh",
        "/srv/git/site.git",
        "./site",
        "--upload-pack=touch /tmp/pwned",
        "-u",
        "git@github.com:owner/site.git",
        "ssh://git@github.com/owner/site.git",
        "git://github.com/owner/site.git",
        "https://user:secret@github.com/owner/site.git",
        "",
    ],
)
async def test_repo_urls_that_are_not_plain_http_are_refused(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path, repo_url: str
) -> None:
    response = await api.post("/api/deployments", json={**GOOD, "repo_url": repo_url})

    await refused(response, 400, "invalid_repo_url", "repo_url")
    assert_nothing_accepted(state, local_store_root)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.0.0.1",
        "017700000001",
        "localhost",
        "LOCALHOST.",
        "anything.localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "[fe80::1]",
        "[fc00::1]",
    ],
)
async def test_loopback_private_and_link_local_hosts_are_refused_unless_allowed(
    api_for: ApiClientFactory,
    make_settings: Callable[..., Settings],
    state: PlatformState,
    local_store_root: Path,
    host: str,
) -> None:
    api = await api_for(make_settings(git_allow_hosts=()))

    response = await api.post(
        "/api/deployments", json={**GOOD, "repo_url": f"http://{host}/owner/site.git"}
    )

    error = await refused(response, 400, "invalid_repo_url", "repo_url")
    assert "DP_GIT_ALLOW_HOSTS" in error["message"]
    assert_nothing_accepted(state, local_store_root)


async def test_a_real_loopback_git_server_is_refused_when_not_allowed(
    api_for: ApiClientFactory,
    make_settings: Callable[..., Settings],
    state: PlatformState,
    local_store_root: Path,
    git_http: Any,
) -> None:
    repo = git_http.create_repo(unique_name("site"), {"index.html": "hi"})
    api = await api_for(make_settings(git_allow_hosts=()))

    response = await api.post("/api/deployments", json={**GOOD, "repo_url": repo.url})

    await refused(response, 400, "invalid_repo_url", "repo_url")
    assert_nothing_accepted(state, local_store_root)


@pytest.mark.parametrize(
    "project",
    ["Docs", "my_site", "my--site", "-docs", "a" * 33, "abcdefghij23", "", "docs.site"],
)
async def test_bad_project_names_are_refused(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path, project: str
) -> None:
    response = await api.post("/api/deployments", json={**GOOD, "project": project})

    await refused(response, 400, "invalid_project", "project")
    assert_nothing_accepted(state, local_store_root)


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "-main",
        "--upload-pack=x",
        "a..b",
        "feature/../main",
        "has space",
        "tab\there",
        "nul\x00byte",
        "del\x7f",
        "x" * 256,
        "refs/heads/.hidden",
        "topic.lock",
        "ends.",
        "trailing/",
        "/leading",
        "double//slash",
        "@",
        "main@{1}",
        "what?",
        "star*",
        "tilde~1",
        "caret^",
        "colon:x",
        "back\\slash",
        "[bracket",
    ],
)
async def test_refs_that_break_git_ref_rules_are_refused(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path, ref: str
) -> None:
    response = await api.post("/api/deployments", json={**GOOD, "ref": ref})

    await refused(response, 400, "invalid_ref", "ref")
    assert_nothing_accepted(state, local_store_root)


async def test_a_ref_the_repository_does_not_have_is_named(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), {"index.html": "hi"})

    response = await api.post(
        "/api/deployments", json={"repo_url": repo.url, "ref": "no-such-branch", "project": "s"}
    )

    error = await refused(response, 422, "ref_not_found", "ref")
    assert "no-such-branch" in error["message"]
    assert_nothing_accepted(state, local_store_root)


async def test_a_repository_that_does_not_exist_is_refused(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path, git_http: Any
) -> None:
    repo = git_http.create_repo(unique_name("site"), {"index.html": "hi"})
    missing = repo.url.rsplit("/", 1)[0] + "/no-such-repo.git"

    response = await api.post("/api/deployments", json={**GOOD, "repo_url": missing})

    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] in {"repo_unreachable", "ref_not_found"}
    assert_nothing_accepted(state, local_store_root)


async def test_a_server_that_does_not_answer_is_refused_readably(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/owner/site.git"

    response = await api.post("/api/deployments", json={**GOOD, "repo_url": closed})

    error = await refused(response, 422, "repo_unreachable", "repo_url")
    assert "Traceback" not in error["message"]
    assert_nothing_accepted(state, local_store_root)


async def test_a_body_of_another_media_type_is_refused(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    response = await api.post(
        "/api/deployments",
        data="repo_url=https://example.com/site.git&project=docs",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    error = await refused(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"]
    assert_nothing_accepted(state, local_store_root)


async def test_query_parameters_on_a_json_request_are_refused(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    response = await api.post("/api/deployments?project=other", json=GOOD)

    await refused(response, 400, "unknown_field", "project")
    assert_nothing_accepted(state, local_store_root)


async def test_an_oversized_json_body_is_refused(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    response = await api.post("/api/deployments", json={**GOOD, "padding": "x" * (128 * 1024)})

    await refused(response, 413, "body_too_large")
    assert_nothing_accepted(state, local_store_root)
