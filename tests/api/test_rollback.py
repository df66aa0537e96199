"""Rollback, promote and the aliases listing over the control API: real Redis, a local
store, the real publishing code, and every refusal with what it says."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.api import create_app
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import alias_key, manifest_key
from deploy_platform.contracts.records import Status
from deploy_platform.projects.model import new_project
from deploy_platform.projects.store import create_project
from deploy_platform.publish.alias_moves import list_moves
from deploy_platform.publish.aliases import read_alias
from deploy_platform.publish.cloudflare_kv import KVConfig
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.cloudflare_kv_server import ACCOUNT, NAMESPACE, TOKEN, FakeCloudflareKV
from tests.support.deployments import published


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


async def call(
    api: TestClient[Any, Any], method: str, path: str, body: object = None, raw: bytes = b""
) -> tuple[int, dict[str, Any]]:
    kwargs: dict[str, Any] = {"json": body} if body is not None else {"data": raw}
    async with api.request(method, path, **kwargs) as response:
        return response.status, json.loads(await response.text())


def production(store: LocalObjectStore, state: PlatformState, project: str = "docs") -> str | None:
    """What serves production: the durable pointer, checked against the Redis index."""
    live = read_alias(store, project)
    assert state.get_alias(project) == live
    return live


async def test_rollback_without_an_id_steps_back_one_production_deployment_at_a_time(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    v1 = published(store, state, "docs", b"<h1>v1</h1>")
    published(store, state, "docs", b"broken", status=Status.FAILED)
    v2 = published(store, state, "docs", b"<h1>v2</h1>")
    published(store, state, "docs", b"<h1>preview</h1>", ref="feature/x")
    v3 = published(store, state, "docs", b"<h1>v3</h1>")

    status, answer = await call(api, "POST", "/api/projects/docs/rollback")

    assert status == 200, answer
    assert answer == {
        "project": "docs",
        "alias": "docs",
        "from": v3.id,
        "to": v2.id,
        "moved": True,
        "actor": "api",
        "reason": "rollback",
        "urls": {
            "production": "http://docs.localhost:8080/",
            "deployment": f"http://{v2.id}.localhost:8080/",
        },
    }
    assert production(store, state) == v2.id
    # Again: past the failed deployment and the preview, to v1.
    status, answer = await call(api, "POST", "/api/projects/docs/rollback", {})
    assert (status, answer["from"], answer["to"]) == (200, v2.id, v1.id)
    assert production(store, state) == v1.id
    # Nothing before v1.
    status, answer = await call(api, "POST", "/api/projects/docs/rollback")
    assert status == 409 and answer["error"]["code"] == "nothing_to_roll_back"
    assert f"older than the live one ({v1.id})" in answer["error"]["message"]
    assert production(store, state) == v1.id


async def test_rollback_to_an_id_with_an_actor_is_logged_with_both(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    v1 = published(store, state, "docs", b"<h1>v1</h1>")
    v2 = published(store, state, "docs", b"<h1>v2</h1>")

    status, answer = await call(
        api, "POST", "/api/projects/docs/rollback", {"deployment": v1.id, "actor": "cli:alice"}
    )

    assert status == 200 and (answer["from"], answer["to"]) == (v2.id, v1.id)
    newest = list_moves(store, "docs")[0]
    assert (newest.from_deployment, newest.to_deployment) == (v2.id, v1.id)
    assert (newest.actor, newest.reason, newest.alias) == ("cli:alice", "rollback", "docs")
    # Asking for what already serves changes nothing and logs nothing.
    moves = len(list_moves(store, "docs"))
    status, answer = await call(api, "POST", "/api/projects/docs/rollback", {"deployment": v1.id})
    assert status == 200 and answer["moved"] is False and answer["to"] == v1.id
    assert len(list_moves(store, "docs")) == moves


async def test_a_rollback_reaches_the_edges_through_redis_pub_sub(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    v1 = published(store, state, "docs", b"<h1>v1</h1>")
    published(store, state, "docs", b"<h1>v2</h1>")
    pubsub = state.redis.pubsub()
    pubsub.subscribe(state.key("alias-changed"))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]

    status, _ = await call(api, "POST", "/api/projects/docs/rollback")

    assert status == 200
    message = pubsub.get_message(timeout=5)
    pubsub.close()
    assert message is not None and message["data"] == b"docs"
    assert state.get_alias("docs") == v1.id


async def test_promote_puts_a_ready_preview_into_production(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    live = published(store, state, "docs", b"<h1>live</h1>")
    preview = published(store, state, "docs", b"<h1>preview</h1>", ref="feature/new-look")

    status, answer = await call(
        api, "POST", f"/api/deployments/{preview.id}/promote", {"actor": "cli:bob"}
    )

    assert status == 200, answer
    assert (answer["from"], answer["to"], answer["reason"]) == (live.id, preview.id, "promote")
    assert production(store, state) == preview.id
    # The preview alias still shows the branch; the deployment itself is unchanged.
    assert read_alias(store, "feature-new-look--docs") == preview.id
    assert state.get(preview.id).environment.value == "preview"
    newest = list_moves(store, "docs")[0]
    assert (newest.actor, newest.reason, newest.to_deployment) == ("cli:bob", "promote", preview.id)
    # An empty body is fine, and promoting what serves changes nothing.
    status, answer = await call(api, "POST", f"/api/deployments/{preview.id}/promote")
    assert status == 200 and answer["moved"] is False and answer["actor"] == "api"


async def test_promote_brings_back_an_earlier_production_deployment_too(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    v1 = published(store, state, "docs", b"<h1>v1</h1>")
    published(store, state, "docs", b"<h1>v2</h1>")
    status, answer = await call(api, "POST", f"/api/deployments/{v1.id}/promote")
    assert status == 200 and answer["to"] == v1.id
    assert production(store, state) == v1.id


async def test_a_project_with_settings_but_no_deployment_has_nothing_to_roll_back(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    create_project(store, state, new_project({"name": "docs"}, lambda url: str(url), 0.0))
    status, answer = await call(api, "POST", "/api/projects/docs/rollback")
    assert status == 409 and answer["error"]["code"] == "nothing_to_roll_back"
    assert "has no production deployment yet" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("make_body", "status", "code", "says"),
    [
        (lambda d: {"deployment": "nope"}, 400, "invalid_id", "is not a deployment id"),
        (lambda d: {"deployment": new_deployment_id()}, 404, "deployment_not_found", "no deploy"),
        (lambda d: {"deployment": d["blog"]}, 400, "wrong_project", "belongs to project blog"),
        (lambda d: {"deployment": d["failed"]}, 409, "deployment_not_ready", "is failed"),
        (lambda d: {"deployment": d["queued"]}, 409, "deployment_not_ready", "is queued"),
        (lambda d: {"deployment": d["preview"]}, 409, "preview_deployment", "use promote"),
        (lambda d: {"deployment": d["gone"]}, 409, "deployment_not_published", "deploy it again"),
        (lambda d: {"deployment": 7}, 400, "invalid_type", "must be a string, not a number"),
        (lambda d: {"actor": "alice smith"}, 400, "invalid_actor", "letters, digits"),
        (lambda d: {"deployment": d["v1"], "force": True}, 400, "unknown_field", "'force'"),
        (lambda d: [d["v1"]], 400, "invalid_body", "with optional deployment and actor"),
    ],
)
async def test_rollback_refusals_say_what_to_do_and_move_nothing(
    api: TestClient[Any, Any],
    store: LocalObjectStore,
    state: PlatformState,
    make_body: Callable[[dict[str, str]], object],
    status: int,
    code: str,
    says: str,
) -> None:
    ids = {
        "v1": published(store, state, "docs", b"<h1>v1</h1>").id,
        "blog": published(store, state, "blog", b"<h1>blog</h1>").id,
        "failed": published(store, state, "docs", b"", status=Status.FAILED).id,
        "queued": published(store, state, "docs", b"", status=Status.QUEUED).id,
        "preview": published(store, state, "docs", b"<h1>p</h1>", ref="feature/p").id,
        "gone": published(store, state, "docs", b"<h1>gone</h1>", live=False).id,
    }
    store.delete(manifest_key(ids["gone"]))
    live = published(store, state, "docs", b"<h1>live</h1>").id
    moves = len(list_moves(store, "docs"))

    answered, answer = await call(api, "POST", "/api/projects/docs/rollback", make_body(ids))

    assert (answered, answer["error"]["code"]) == (status, code), answer
    assert says in answer["error"]["message"]
    assert production(store, state) == live
    assert len(list_moves(store, "docs")) == moves


@pytest.mark.parametrize(
    ("path", "raw", "status", "code", "says"),
    [
        ("/api/projects/nothing/rollback", b"", 404, "project_not_found", "no project nothing"),
        ("/api/projects/Docs!/rollback", b"", 400, "invalid_project", "lowercase letters"),
        ("/api/projects/docs/rollback", b"{", 400, "malformed_json", "not valid JSON"),
        ("/api/deployments/nope/promote", b"", 400, "invalid_id", "is not a deployment id"),
        ("/api/deployments/aaaaaaaaaaa2/promote", b"", 404, "deployment_not_found", "no deploy"),
        (
            "/api/deployments/aaaaaaaaaaa2/promote",
            b'{"deployment": "aaaaaaaaaaa2"}',
            400,
            "unknown_field",
            "allowed: actor",
        ),
    ],
)
async def test_refusals_by_path_and_body(
    api: TestClient[Any, Any],
    store: LocalObjectStore,
    state: PlatformState,
    path: str,
    raw: bytes,
    status: int,
    code: str,
    says: str,
) -> None:
    published(store, state, "docs", b"<h1>live</h1>")
    answered, answer = await call(api, "POST", path, raw=raw)
    assert (answered, answer["error"]["code"]) == (status, code), answer
    assert says in answer["error"]["message"]


async def test_promoting_a_deployment_that_is_not_ready_is_refused(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    live = published(store, state, "docs", b"<h1>live</h1>")
    building = published(store, state, "docs", b"", ref="feature/x", status=Status.BUILDING)
    status, answer = await call(api, "POST", f"/api/deployments/{building.id}/promote")
    assert status == 409 and answer["error"]["code"] == "deployment_not_ready"
    assert f"deployment {building.id} is building" in answer["error"]["message"]
    assert production(store, state) == live.id


async def test_aliases_lists_what_serves_and_the_move_log_newest_first(
    api: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    v1 = published(store, state, "docs", b"<h1>v1</h1>")
    v2 = published(store, state, "docs", b"<h1>v2</h1>")
    preview = published(store, state, "docs", b"<h1>p</h1>", ref="feature/x")
    published(store, state, "docs-old", b"<h1>another project</h1>")
    await call(api, "POST", "/api/projects/docs/rollback", {"actor": "cli:alice"})

    status, answer = await call(api, "GET", "/api/projects/docs/aliases")

    assert status == 200
    assert answer["project"] == "docs"
    assert [(a["alias"], a["kind"], a["deployment"]) for a in answer["aliases"]] == [
        ("docs", "production", v1.id),
        ("feature-x--docs", "preview", preview.id),
    ]
    production_alias = answer["aliases"][0]
    assert production_alias["moved_by"] == {"actor": "cli:alice", "reason": "rollback"}
    assert production_alias["url"] == "http://docs.localhost:8080/"
    assert (production_alias["ref"], production_alias["environment"]) == ("main", "production")
    moves = [(m["alias"], m["from"], m["to"], m["reason"]) for m in answer["moves"]]
    assert moves == [
        ("docs", v2.id, v1.id, "rollback"),
        ("feature-x--docs", None, preview.id, "deploy"),
        ("docs", v1.id, v2.id, "deploy"),
        ("docs", None, v1.id, "deploy"),
    ]
    assert answer["moves"][0]["actor"] == "cli:alice"
    assert answer["moves"][0]["time"].endswith("Z")
    status, answer = await call(api, "GET", "/api/projects/docs/aliases?limit=1")
    assert [m["reason"] for m in answer["moves"]] == ["rollback"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/projects/nothing/aliases", 404, "project_not_found"),
        ("/api/projects/docs/aliases?limit=0", 400, "invalid_query"),
        ("/api/projects/docs/aliases?limit=ten", 400, "invalid_query"),
        ("/api/projects/docs/aliases?limit=1001", 400, "invalid_query"),
        ("/api/projects/-docs/aliases", 400, "invalid_project"),
    ],
)
async def test_aliases_refusals(
    api: TestClient[Any, Any],
    store: LocalObjectStore,
    state: PlatformState,
    path: str,
    status: int,
    code: str,
) -> None:
    published(store, state, "docs", b"<h1>live</h1>")
    answered, answer = await call(api, "GET", path)
    assert (answered, answer["error"]["code"]) == (status, code)


async def test_a_rollback_writes_the_pointer_to_the_workers_kv_index(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    cloudflare_kv: FakeCloudflareKV,
    store: LocalObjectStore,
    state: PlatformState,
) -> None:
    kv = KVConfig.from_values(cloudflare_kv.url, ACCOUNT, NAMESPACE, TOKEN)
    api: TestClient[Any, Any] = await aiohttp_client(create_app(make_settings(), kv=kv))
    v1 = published(store, state, "docs", b"<h1>v1</h1>")
    published(store, state, "docs", b"<h1>v2</h1>")

    status, _ = await call(api, "POST", "/api/projects/docs/rollback")

    assert status == 200
    # KV holds the same bytes as the pointer the edges read, naming v1.
    assert cloudflare_kv.values["docs"] == store.get_bytes(alias_key("docs"))
    assert json.loads(cloudflare_kv.values["docs"])["deployment"] == v1.id
