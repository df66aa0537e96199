"""`collect_garbage` on real stores and Redis: old deployments go, nothing live does."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from deploy_platform.contracts.manifest import alias_key, blob_key
from deploy_platform.contracts.records import Status
from deploy_platform.publish.variants import variants_key
from deploy_platform.retention.collect import archive_key, collect_garbage
from deploy_platform.retention.policy import RetentionPolicy
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.retention.support import (
    DAY,
    gone,
    make_deployment,
    manifest_of,
    serves_everything,
)
from tests.support.deployments import point_alias

POLICY = RetentionPolicy(keep_per_branch=1, keep_days=30)
# The bodies here were written a moment ago; count them as old enough to sweep,
# so only the policy, the mark and the fence decide (the age guard is tested apart).
NO_AGE_GUARD = -3600.0


def snapshot(store: ObjectStore, state: PlatformState) -> tuple[object, object]:
    objects = {(i.key, i.size) for i in store.list()}
    keys = {k: state.redis.dump(k) for k in state.redis.scan_iter(match=state.prefix + "*")}
    return objects, keys


def body_key(store: ObjectStore, deployment_id: str, path: str) -> str:
    return blob_key(manifest_of(store, deployment_id).files[path].blob)


class Site:
    """docs: two old deployments, the live one, an aliased preview, a young one, a build."""

    def __init__(self, store: ObjectStore, state: PlatformState) -> None:
        shared = b"body { color: teal }"
        self.old = [
            make_deployment(
                store,
                state,
                "docs",
                {"/index.html": f"<h1>old {n}</h1>".encode(), "/site.css": shared},
                days_ago=60 - n,
                build_env={"API_KEY": "hunter2"},
            )
            for n in range(2)
        ]
        self.live = make_deployment(
            store,
            state,
            "docs",
            {"/index.html": b"<h1>live</h1>", "/site.css": shared},
            days_ago=40,
        )
        point_alias(store, state, "docs", self.live.id)
        self.preview = make_deployment(
            store, state, "docs", {"/index.html": b"<h1>preview</h1>"}, ref="feature/x", days_ago=45
        )
        point_alias(store, state, "feature-x--docs", self.preview.id)
        self.young = make_deployment(
            store, state, "docs", {"/index.html": b"<h1>young</h1>"}, days_ago=2
        )
        self.building = make_deployment(
            store, state, "docs", {}, days_ago=90, status=Status.BUILDING
        )
        self.old_bodies = [body_key(store, r.id, "/index.html") for r in self.old]


def test_old_deployments_go_and_everything_live_stays(
    store: ObjectStore, state: PlatformState
) -> None:
    site = Site(store, state)

    report = collect_garbage(store, state, POLICY, dry_run=False, clock_margin_seconds=NO_AGE_GUARD)

    assert sorted(r.id for r in report.removed) == sorted(r.id for r in site.old)
    for record in site.old:
        assert gone(store, record.id)
        assert state.find(record.id) is None
        assert record.id not in state.project_deployments("docs")
    for record in (site.live, site.preview, site.young):
        assert serves_everything(store, record.id), record.id
        assert state.find(record.id) is not None
    assert state.get(site.building.id).status is Status.BUILDING
    # The bodies only the removed deployments had are swept; the shared one stays.
    assert [store.exists(key) for key in site.old_bodies] == [False, False]
    assert report.bodies == 2 and report.body_bytes == len(b"<h1>old 0</h1>") * 2
    assert store.exists(body_key(store, site.live.id, "/site.css"))
    kept = {d.record.id: d.reasons for d in report.kept}
    assert kept[site.live.id] == ("alias docs",)
    assert "alias feature-x--docs" in kept[site.preview.id]
    assert kept[site.building.id] == ("building, not finished",)


def test_removed_records_are_archived_without_build_secrets(
    store: ObjectStore, state: PlatformState
) -> None:
    site = Site(store, state)
    collect_garbage(store, state, POLICY, dry_run=False, clock_margin_seconds=NO_AGE_GUARD)

    archived = json.loads(store.get_bytes(archive_key(site.old[0].id)))
    assert archived["record"]["id"] == site.old[0].id
    assert archived["record"]["project"] == "docs" and archived["record"]["status"] == "ready"
    assert archived["record"]["build"]["env"] == {"API_KEY": "***"}
    assert "hunter2" not in json.dumps(archived)


def test_a_dry_run_removes_nothing_and_names_what_would_go(
    store: ObjectStore, state: PlatformState
) -> None:
    site = Site(store, state)
    before = snapshot(store, state)

    report = collect_garbage(store, state, POLICY, dry_run=True, clock_margin_seconds=NO_AGE_GUARD)

    assert snapshot(store, state) == before
    assert sorted(r.id for r in report.removed) == sorted(r.id for r in site.old)
    assert report.bodies == 2 and report.dry_run
    assert all(r.bytes > 0 for r in report.removed)
    # The real run then removes exactly that.
    done = collect_garbage(store, state, POLICY, dry_run=False, clock_margin_seconds=NO_AGE_GUARD)
    assert [r.id for r in done.removed] == [r.id for r in report.removed]
    assert (done.bodies, done.body_bytes) == (report.bodies, report.body_bytes)


def test_previous_skew_history_and_redis_only_aliases_keep_their_deployments(
    store: ObjectStore, state: PlatformState
) -> None:
    files = {"/index.html": b"<h1>x</h1>"}
    current, previous, in_grace, stale, pull = (
        make_deployment(store, state, "app", files, days_ago=100 + n) for n in range(5)
    )
    now = time.time()
    pointer = {
        "deployment": current.id,
        "previous": previous.id,
        "updated_at": now - 60,
        "history": [
            {"deployment": previous.id, "replaced_at": now - 60},
            {"deployment": in_grace.id, "replaced_at": now - 3600},
            {"deployment": stale.id, "replaced_at": now - 2 * DAY},
        ],
    }
    store.put_bytes(alias_key("app"), json.dumps(pointer).encode(), "application/json")
    state.set_alias("app", current.id)
    state.set_alias("pr-7--app", pull.id)  # known to the Redis index only
    policy = RetentionPolicy(keep_per_branch=0, keep_days=0, skew_grace_seconds=12 * 3600)

    report = collect_garbage(store, state, policy, dry_run=False, now=now)

    assert [r.id for r in report.removed] == [stale.id]
    kept = {d.record.id: " / ".join(d.reasons) for d in report.kept}
    assert kept[previous.id] == (
        "previous deployment of alias app (rollback) / skew protection of alias app"
    )
    assert kept[in_grace.id] == "skew protection of alias app"
    assert kept[pull.id] == "alias pr-7--app"
    for record in (current, previous, in_grace, pull):
        assert serves_everything(store, record.id)


def test_a_rollback_onto_a_deployment_being_removed_keeps_it(
    store: ObjectStore, state: PlatformState
) -> None:
    site = Site(store, state)
    target = site.old[1]

    def rollback_meanwhile(ids: Sequence[str]) -> None:
        assert target.id in ids
        point_alias(store, state, "docs", target.id)

    report = collect_garbage(
        store,
        state,
        POLICY,
        dry_run=False,
        before_delete=rollback_meanwhile,
        clock_margin_seconds=NO_AGE_GUARD,
    )

    assert [r.id for r in report.removed] == [site.old[0].id]
    assert report.spared == {target.id: "alias docs"}
    assert serves_everything(store, target.id)
    assert state.get(target.id).status is Status.READY
    assert serves_everything(store, site.live.id)  # now the rollback's previous


def page(word: str) -> bytes:
    """HTML large and repetitive enough to get Brotli and gzip variants."""
    return (f"<h1>{word}</h1>" + "<p>compressible text</p>" * 200).encode()


def test_precompressed_variants_and_their_records_go_with_their_body(
    store: ObjectStore, state: PlatformState
) -> None:
    old = make_deployment(store, state, "big", {"/index.html": page("old")}, days_ago=90)
    live = make_deployment(store, state, "big", {"/index.html": page("live")}, days_ago=80)
    point_alias(store, state, "big", live.id)
    entry = manifest_of(store, old.id).files["/index.html"]
    assert set(entry.encodings) == {"br", "gzip"}
    old_keys = [blob_key(entry.blob), *(blob_key(r.blob) for r in entry.encodings.values())]
    old_keys.append(variants_key(entry.blob))
    assert all(store.exists(key) for key in old_keys)

    report = collect_garbage(
        store,
        state,
        RetentionPolicy(keep_per_branch=0, keep_days=0, skew_grace_seconds=0),
        dry_run=False,
        clock_margin_seconds=NO_AGE_GUARD,
    )

    assert [r.id for r in report.removed] == [old.id]
    assert [key for key in old_keys if store.exists(key)] == []
    assert report.bodies == 3
    assert serves_everything(store, live.id)  # its body and both variants
    assert store.exists(variants_key(manifest_of(store, live.id).files["/index.html"].blob))
