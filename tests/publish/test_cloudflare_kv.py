"""The Worker's KV alias index: alias moves copied to a real loopback HTTP server
that speaks the Cloudflare KV API, on a real local store and real Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import alias_key
from deploy_platform.publish.aliases import move_alias_if_newer, point_alias, read_alias
from deploy_platform.publish.cloudflare_kv import (
    DEFAULT_API_URL,
    CloudflareKV,
    KVAliasIndex,
    KVConfig,
    KVConfigError,
)
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.cloudflare_kv_server import (
    ACCOUNT,
    DOMAINS_NAMESPACE,
    NAMESPACE,
    TOKEN,
    FakeCloudflareKV,
)

VALUES = f"/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}/values"


def make_index(
    api_url: str, state: PlatformState, warnings: list[str], token: str = TOKEN
) -> KVAliasIndex:
    config = KVConfig.from_values(api_url, ACCOUNT, NAMESPACE, token)
    assert config is not None
    return KVAliasIndex(CloudflareKV(config), state, warnings.append)


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


def test_no_settings_means_no_index_and_half_settings_name_what_is_missing() -> None:
    assert KVConfig.from_values("", "", "", "") is None
    assert KVConfig.from_values("http://127.0.0.1:9/x", " ", "", "") is None
    with pytest.raises(KVConfigError, match="needs DP_CF_KV_NAMESPACE_ID, DP_CF_API_TOKEN"):
        KVConfig.from_values("", ACCOUNT, "", "")
    with pytest.raises(KVConfigError, match="DP_CF_API_URL 'ftp://x' is not an http"):
        KVConfig.from_values("ftp://x", ACCOUNT, NAMESPACE, TOKEN)
    with pytest.raises(KVConfigError, match="DP_CF_ACCOUNT_ID 'a/b' must be letters"):
        KVConfig.from_values("", "a/b", NAMESPACE, TOKEN)
    config = KVConfig.from_values("", ACCOUNT, NAMESPACE, TOKEN)
    assert config is not None and config.api_url == DEFAULT_API_URL
    assert TOKEN not in repr(config)


def test_the_domains_namespace_is_optional_but_never_alone() -> None:
    config = KVConfig.from_values("", ACCOUNT, NAMESPACE, TOKEN)
    assert config is not None and config.domains_namespace_id == ""
    both = KVConfig.from_values("", ACCOUNT, NAMESPACE, TOKEN, DOMAINS_NAMESPACE)
    assert both is not None and both.domains_namespace_id == DOMAINS_NAMESPACE
    assert KVConfig.from_env({}) is None
    assert KVConfig.from_env(
        {
            "DP_CF_ACCOUNT_ID": ACCOUNT,
            "DP_CF_KV_NAMESPACE_ID": NAMESPACE,
            "DP_CF_API_TOKEN": TOKEN,
            "DP_CF_KV_DOMAINS_NAMESPACE_ID": DOMAINS_NAMESPACE,
        }
    ) == both
    # A domain index alone is a half-set configuration: the message names the rest.
    with pytest.raises(
        KVConfigError,
        match="needs DP_CF_ACCOUNT_ID, DP_CF_KV_NAMESPACE_ID, DP_CF_API_TOKEN as well.*"
        "DP_CF_KV_DOMAINS_NAMESPACE_ID adds the domain index",
    ):
        KVConfig.from_values("", "", "", "", DOMAINS_NAMESPACE)
    with pytest.raises(KVConfigError, match="DP_CF_KV_DOMAINS_NAMESPACE_ID 'ns-1' must be letters"):
        KVConfig.from_values("", ACCOUNT, NAMESPACE, TOKEN, "ns-1")
    assert TOKEN not in repr(both)


def test_each_alias_move_puts_the_stored_pointer_bytes_into_kv(
    cloudflare_kv: FakeCloudflareKV, store: LocalObjectStore, state: PlatformState
) -> None:
    warnings: list[str] = []
    index = make_index(cloudflare_kv.url + "/", state, warnings)
    first, second = new_deployment_id(), new_deployment_id()

    point_alias(store, state, "docs", first, index)
    move = move_alias_if_newer(store, state, "docs", second, index)

    assert move.moved and read_alias(store, "docs") == second
    assert [(r.method, r.path) for r in cloudflare_kv.requests] == [("PUT", f"{VALUES}/docs")] * 2
    for request in cloudflare_kv.requests:
        assert request.authorization == f"Bearer {TOKEN}"
        assert request.content_type == "application/octet-stream"
    assert json.loads(cloudflare_kv.requests[0].body)["deployment"] == first
    # KV holds exactly the bytes of the R2 pointer, whatever fields it has.
    assert cloudflare_kv.values["docs"] == store.get_bytes(alias_key("docs"))
    assert json.loads(cloudflare_kv.values["docs"])["deployment"] == second
    assert warnings == [] and index.failures() == {}


def test_a_failed_kv_write_never_fails_the_move_deletes_the_key_and_is_recorded(
    cloudflare_kv: FakeCloudflareKV, store: LocalObjectStore, state: PlatformState
) -> None:
    warnings: list[str] = []
    index = make_index(cloudflare_kv.url, state, warnings)
    old, new, newer = new_deployment_id(), new_deployment_id(), new_deployment_id()
    point_alias(store, state, "docs", old, index)

    cloudflare_kv.failing = "put"
    point_alias(store, state, "docs", new, index)

    assert read_alias(store, "docs") == new and state.get_alias("docs") == new
    # The old value is gone, so the Worker falls back to the R2 pointer.
    assert "docs" not in cloudflare_kv.values
    assert [r.method for r in cloudflare_kv.requests[-2:]] == ["PUT", "DELETE"]
    assert len(warnings) == 1
    assert "alias docs not written" in warnings[0] and "10001 service unavailable" in warnings[0]
    assert index.failures()["docs"]["kv"] == "deleted"

    cloudflare_kv.failing = "all"
    point_alias(store, state, "docs", newer, index)
    assert read_alias(store, "docs") == newer
    assert index.failures()["docs"]["kv"] == "stale"
    assert "could not delete it either" in warnings[-1]

    cloudflare_kv.failing = "no"
    point_alias(store, state, "docs", new, index)
    assert json.loads(cloudflare_kv.values["docs"])["deployment"] == new
    assert index.failures() == {}


def test_a_wrong_token_or_an_unreachable_api_is_a_warning_not_an_error(
    cloudflare_kv: FakeCloudflareKV, store: LocalObjectStore, state: PlatformState
) -> None:
    warnings: list[str] = []
    wrong = make_index(cloudflare_kv.url, state, warnings, token="wrong")
    point_alias(store, state, "site-a", new_deployment_id(), wrong)
    assert "HTTP 403: 10000 Authentication error" in warnings[-1]

    closed = make_index("http://127.0.0.1:9/client/v4", state, warnings)
    deployment = new_deployment_id()
    point_alias(store, state, "site-b", deployment, closed)
    assert read_alias(store, "site-b") == deployment
    assert "unreachable" in warnings[-1]
    assert set(closed.failures()) == {"site-a", "site-b"}
