"""Custom domains reach the Worker's KV namespace DOMAINS: through the control API,
against a real loopback server speaking the Cloudflare KV API, real Redis, a local store.

Guards that the Worker's DOMAINS index (read before `domains/<hostname>.json`)
is written by something, holds exactly the stored pointer, and never keeps
mapping a hostname after it was removed, even when Cloudflare fails.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.api import create_app
from deploy_platform.contracts.domains import domain_key
from deploy_platform.publish.cloudflare_kv import CloudflareKV, KVConfig, KVDomainIndex
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.cloudflare_kv_server import (
    ACCOUNT,
    DOMAINS_NAMESPACE,
    NAMESPACE,
    TOKEN,
    FakeCloudflareKV,
)

VALUES = f"/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{DOMAINS_NAMESPACE}/values"
WWW = "www.example.com"


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


@pytest.fixture
def kv_config(cloudflare_kv: FakeCloudflareKV) -> KVConfig:
    """DP_CF_* with both namespaces, pointed at the loopback Cloudflare API."""
    config = KVConfig.from_values(cloudflare_kv.url, ACCOUNT, NAMESPACE, TOKEN, DOMAINS_NAMESPACE)
    assert config is not None
    return config


@pytest.fixture
async def api(
    aiohttp_client: Any, make_settings: Callable[..., Settings], kv_config: KVConfig
) -> TestClient[Any, Any]:
    """The API on base domain pages.test, writing custom domains to KV DOMAINS."""
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(make_settings(base_domain="pages.test"), kv=kv_config)
    )
    return client


def failures(state: PlatformState, kv_config: KVConfig) -> dict[str, dict[str, object]]:
    """What the API recorded in Redis about KV domain writes that failed."""
    kv = CloudflareKV(kv_config, kv_config.domains_namespace_id)
    return KVDomainIndex(kv, state).failures()


async def test_adding_puts_the_stored_pointer_and_removing_deletes_the_key(
    api: TestClient[Any, Any],
    cloudflare_kv: FakeCloudflareKV,
    store: LocalObjectStore,
    state: PlatformState,
    kv_config: KVConfig,
) -> None:
    async with api.post("/api/domains", json={"hostname": "WWW.Example.com.", "project": "docs"}):
        pass

    [put] = cloudflare_kv.requests
    assert (put.method, put.path) == ("PUT", f"{VALUES}/{WWW}")
    assert put.authorization == f"Bearer {TOKEN}"
    assert put.content_type == "application/octet-stream"
    # The same bytes as domains/<hostname>.json, in the DOMAINS namespace only.
    assert put.body == store.get_bytes(domain_key(WWW))
    assert json.loads(cloudflare_kv.domain_values[WWW])["project"] == "docs"
    assert cloudflare_kv.values == {}

    async with api.delete(f"/api/domains/{WWW}") as response:
        assert response.status == 200
    assert [(r.method, r.path) for r in cloudflare_kv.requests[1:]] == [
        ("DELETE", f"{VALUES}/{WWW}")
    ]
    assert cloudflare_kv.requests[1].body == b""
    assert WWW not in cloudflare_kv.domain_values
    assert failures(state, kv_config) == {}


async def test_a_failed_kv_write_never_fails_the_api_call_deletes_the_key_and_is_recorded(
    api: TestClient[Any, Any],
    cloudflare_kv: FakeCloudflareKV,
    store: LocalObjectStore,
    state: PlatformState,
    kv_config: KVConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cloudflare_kv.failing = "put"
    with caplog.at_level(logging.WARNING):
        async with api.post("/api/domains", json={"hostname": WWW, "project": "docs"}) as response:
            assert response.status == 201
    # The mapping is live where the edges read it; KV holds nothing, so the Worker reads R2.
    assert json.loads(store.get_bytes(domain_key(WWW)))["project"] == "docs"
    assert state.get_domain(WWW) == "docs"
    assert [r.method for r in cloudflare_kv.requests] == ["PUT", "DELETE"]
    assert WWW not in cloudflare_kv.domain_values
    warned = [r.getMessage() for r in caplog.records if "KV domain index" in r.getMessage()]
    assert len(warned) == 1 and "10001 service unavailable" in warned[0]
    assert failures(state, kv_config)[WWW]["kv"] == "deleted"

    # Adding it again once Cloudflare is back repairs the key and clears the record.
    cloudflare_kv.failing = "no"
    async with api.post("/api/domains", json={"hostname": WWW, "project": "docs"}) as response:
        assert response.status == 200
    assert cloudflare_kv.domain_values[WWW] == store.get_bytes(domain_key(WWW))
    assert failures(state, kv_config) == {}


async def test_a_removal_kv_cannot_delete_is_recorded_stale_and_repaired_by_removing_again(
    api: TestClient[Any, Any],
    cloudflare_kv: FakeCloudflareKV,
    store: LocalObjectStore,
    state: PlatformState,
    kv_config: KVConfig,
) -> None:
    async with api.post("/api/domains", json={"hostname": WWW, "project": "docs"}):
        pass
    cloudflare_kv.failing = "all"

    async with api.delete(f"/api/domains/{WWW}") as response:
        assert response.status == 200
    assert not store.exists(domain_key(WWW)) and state.get_domain(WWW) is None
    # KV still maps it (the Worker would keep serving docs there): said so in Redis.
    assert WWW in cloudflare_kv.domain_values
    record = failures(state, kv_config)[WWW]
    assert record["kv"] == "stale" and "service unavailable" in str(record["error"])

    cloudflare_kv.failing = "no"
    async with api.delete(f"/api/domains/{WWW}") as response:
        assert response.status == 404  # no longer mapped in the store...
    assert WWW not in cloudflare_kv.domain_values  # ...and now not in KV either
    assert failures(state, kv_config) == {}


async def test_without_a_domains_namespace_nothing_is_sent(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    cloudflare_kv: FakeCloudflareKV,
) -> None:
    aliases_only = KVConfig.from_values(cloudflare_kv.url, ACCOUNT, NAMESPACE, TOKEN)
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(make_settings(base_domain="pages.test"), kv=aliases_only)
    )
    async with client.post("/api/domains", json={"hostname": WWW, "project": "docs"}) as response:
        assert response.status == 201
    async with client.delete(f"/api/domains/{WWW}") as response:
        assert response.status == 200
    assert cloudflare_kv.requests == []
