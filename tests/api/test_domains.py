"""Custom domains over the control API: add, list, remove, and every refusal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.domains import domain_key
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.api.conftest import ApiClientFactory
from tests.support.deployments import point_alias, write_deployment

TOKEN = "domain-token-for-tests"


@pytest.fixture
async def api(api_for: ApiClientFactory, make_settings: Callable[..., Settings]) -> Any:
    """The API on base domain pages.test (no git server needed for domains)."""
    return await api_for(make_settings(base_domain="pages.test"))


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


async def add(api: TestClient[Any, Any], body: object) -> tuple[int, dict[str, Any]]:
    async with api.post("/api/domains", json=body) as response:
        return response.status, await response.json()


async def test_a_domain_is_added_normalized_listed_and_removed(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    status, answer = await add(api, {"hostname": "WWW.Example.COM.", "project": "docs"})
    assert status == 201
    assert (answer["hostname"], answer["project"]) == ("www.example.com", "docs")
    # The store holds the mapping (the source of truth), Redis indexes it.
    stored = json.loads(store.get_bytes(domain_key("www.example.com")))
    assert stored["project"] == "docs" and stored["created_at"] == answer["created_at"]
    assert state.get_domain("www.example.com") == "docs"

    await add(api, {"hostname": "blog.example.net", "project": "blog"})
    async with api.get("/api/domains") as response:
        listed = await response.json()
    assert [d["hostname"] for d in listed["domains"]] == ["blog.example.net", "www.example.com"]
    async with api.get("/api/domains", params={"project": "docs"}) as response:
        assert [d["hostname"] for d in (await response.json())["domains"]] == ["www.example.com"]

    async with api.delete("/api/domains/WWW.example.com") as response:
        assert response.status == 200
        removed = await response.json()
    assert (removed["hostname"], removed["project"], removed["removed"]) == (
        "www.example.com",
        "docs",
        True,
    )
    assert not store.exists(domain_key("www.example.com"))
    assert state.get_domain("www.example.com") is None


async def test_adding_the_same_mapping_again_changes_nothing(api: TestClient[Any, Any]) -> None:
    status, first = await add(api, {"hostname": "www.example.com", "project": "docs"})
    assert status == 201
    status, again = await add(api, {"hostname": "www.example.com.", "project": "docs"})
    assert status == 200
    assert again == first


async def test_a_domain_of_another_project_is_refused_naming_it(
    api: TestClient[Any, Any], state: PlatformState
) -> None:
    await add(api, {"hostname": "www.example.com", "project": "docs"})
    status, answer = await add(api, {"hostname": "WWW.EXAMPLE.COM", "project": "blog"})
    assert status == 409
    assert answer["error"]["code"] == "domain_taken"
    assert "already serves project docs" in answer["error"]["message"]
    assert answer["error"]["field"] == "hostname"
    assert state.get_domain("www.example.com") == "docs"  # nothing changed


@pytest.mark.parametrize(
    ("hostname", "says"),
    [
        ("", "non-empty"),
        ("localhost", "single label"),
        ("www.example.com:8080", "port"),
        ("https://www.example.com/", "without scheme"),
        ("*.example.com", "wildcard"),
        ("10.0.0.1", "IP address"),
        ("[::1]", "port or is an IPv6"),
        ("bad_label.example.com", "'bad_label'"),
        ("a..example.com", "''"),
        ("-a.example.com", "'-a'"),
        ("a" * 64 + ".example.com", "1 to 63"),
        ("a." * 127 + "com", "longer than 253"),
        ("bücher.example", "non-ASCII"),
    ],
)
async def test_a_hostname_that_is_not_a_dns_name_is_refused(
    api: TestClient[Any, Any], store: LocalObjectStore, hostname: str, says: str
) -> None:
    status, answer = await add(api, {"hostname": hostname, "project": "docs"})
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_hostname"
    assert answer["error"]["field"] == "hostname"
    assert says in answer["error"]["message"]
    assert list(store.list("domains/")) == []


@pytest.mark.parametrize("hostname", ["pages.test", "docs.pages.test", "A.B.Pages.Test."])
async def test_names_under_the_base_domain_are_the_platforms(
    api: TestClient[Any, Any], store: LocalObjectStore, hostname: str
) -> None:
    status, answer = await add(api, {"hostname": hostname, "project": "docs"})
    assert status == 400
    assert answer["error"]["code"] == "reserved_hostname"
    assert "base domain pages.test" in answer["error"]["message"]
    assert list(store.list("domains/")) == []


async def test_a_look_alike_of_the_base_domain_is_an_ordinary_domain(
    api: TestClient[Any, Any],
) -> None:
    status, _ = await add(api, {"hostname": "evilpages.test", "project": "docs"})
    assert status == 201


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"hostname": "a.example.com", "project": "Bad Name"}, 400, "invalid_project", "project"),
        (
            {"hostname": "a.example.com", "project": "abcdefghij23"},
            400,
            "invalid_project",
            "project",
        ),
        ({"hostname": "www.example.com"}, 400, "missing_field", "project"),
        ({"project": "docs"}, 400, "missing_field", "hostname"),
        ({"hostname": 7, "project": "docs"}, 400, "invalid_type", "hostname"),
        ({"hostname": "www.example.com", "project": "docs", "x": 1}, 400, "unknown_field", "x"),
        (["www.example.com"], 400, "invalid_body", None),
    ],
)
async def test_bad_requests_are_refused_with_the_field_at_fault(
    api: TestClient[Any, Any],
    store: LocalObjectStore,
    body: object,
    status: int,
    code: str,
    field: str | None,
) -> None:
    got_status, answer = await add(api, body)
    assert (got_status, answer["error"]["code"], answer["error"].get("field")) == (
        status,
        code,
        field,
    )
    assert list(store.list("domains/")) == []


async def test_removing_an_unmapped_or_malformed_domain_is_refused(
    api: TestClient[Any, Any],
) -> None:
    async with api.delete("/api/domains/nothing.example.com") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "domain_not_found"
    async with api.delete("/api/domains/docs.pages.test") as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "reserved_hostname"
    async with api.delete("/api/domains/not_a_name") as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_hostname"
    async with api.get("/api/domains", params={"project": "Not A Project"}) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_project"


async def test_removing_a_domain_never_touches_deployments_or_aliases(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    deployment = new_deployment_id()
    write_deployment(store, deployment, {"/index.html": b"live"})
    point_alias(store, state, "docs", deployment)
    before = {info.key for info in store.list()}
    await add(api, {"hostname": "www.example.com", "project": "docs"})
    async with api.delete("/api/domains/www.example.com") as response:
        assert response.status == 200
    assert {info.key for info in store.list()} == before
    assert state.get_alias("docs") == deployment


async def test_domains_need_the_token(
    api_for: ApiClientFactory, make_settings: Callable[..., Settings]
) -> None:
    api = await api_for(make_settings(api_token=TOKEN))
    body = {"hostname": "www.example.com", "project": "docs"}
    for method, path in (
        ("POST", "/api/domains"),
        ("GET", "/api/domains"),
        ("DELETE", "/api/domains/www.example.com"),
    ):
        async with api.request(method, path, json=body) as response:
            assert response.status == 401, (method, path)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with api.post("/api/domains", json=body, headers=headers) as response:
        assert response.status == 201
