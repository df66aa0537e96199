"""`published_deployment` copies alias moves to the Worker's KV index (alias_index resource)."""

from __future__ import annotations

import json
from pathlib import Path

from deploy_platform.contracts.manifest import alias_key, manifest_key
from deploy_platform.contracts.records import Status
from deploy_platform.orchestration.resources.alias_index import AliasIndexResource
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, pack_site, queue_upload, unique
from tests.support.cloudflare_kv_server import ACCOUNT, NAMESPACE, TOKEN, FakeCloudflareKV


def test_a_deploy_writes_its_aliases_to_kv(
    tmp_path: Path,
    deployer: Deployer,
    cloudflare_kv: FakeCloudflareKV,
    state: PlatformState,
    store: ObjectStore,
) -> None:
    index = AliasIndexResource(
        api_url=cloudflare_kv.url, account_id=ACCOUNT, namespace_id=NAMESPACE, api_token=TOKEN
    )
    deployer = Deployer(deployer.instance, {**deployer.resources, "alias_index": index})
    project = unique("kv")
    record = queue_upload(state, store, project, pack_site(tmp_path, {"index.html": "hi"}))

    assert deployer.run(record.id).success

    assert state.get(record.id).status is Status.READY
    assert record.aliases and set(cloudflare_kv.values) == set(record.aliases)
    for alias in record.aliases:
        assert cloudflare_kv.values[alias] == store.get_bytes(alias_key(alias))
        assert json.loads(cloudflare_kv.values[alias])["deployment"] == record.id


def test_half_set_kv_settings_fail_the_deploy_before_anything_is_published(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    index = AliasIndexResource(account_id=ACCOUNT)
    deployer = Deployer(deployer.instance, {**deployer.resources, "alias_index": index})
    record = queue_upload(state, store, unique("kv"), pack_site(tmp_path, {"index.html": "hi"}))

    result = deployer.run(record.id)

    assert not result.success
    failed = state.get(record.id)
    assert failed.status is Status.FAILED
    assert failed.error is not None and "DP_CF_KV_NAMESPACE_ID, DP_CF_API_TOKEN" in failed.error
    assert failed.error.startswith("the Worker's KV alias index needs")
    assert not store.exists(manifest_key(record.id))
    assert all(not store.exists(alias_key(alias)) for alias in record.aliases)
