"""The sweep never deletes a body a deployment being published needs.

Guards the race a content-addressed store invites: a publish that finds a body
already stored does not upload it again, so an old unreferenced body can be
reused between the sweep's mark and its delete (see storage/fence.py).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import Manifest, blob_key, manifest_key
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.retention.sweep import mark, sweep, unreferenced
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.fence import PublishBlocked, publishing_lease, sweep_fence
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.retention.support import serves_everything
from tests.support.deployments import write_deployment

NO_AGE_GUARD = -3600.0


def site(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / new_deployment_id()
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    return root


def removed_deployment(store: ObjectStore, files: dict[str, bytes]) -> Manifest:
    """Bodies left by a deployment whose manifest retention removed."""
    old = new_deployment_id()
    manifest = write_deployment(store, old, files)
    store.delete(manifest_key(old))
    return manifest


def test_bodies_uploaded_or_reused_after_the_mark_are_not_swept(
    store: ObjectStore, state: PlatformState, tmp_path: Path
) -> None:
    old = removed_deployment(
        store, {"/lib.js": b"console.log('reused')", "/index.html": b"<h1>old</h1>"}
    )
    marked = mark(store)

    # Published after the mark: one body new, one reused from the removed deployment.
    new = new_deployment_id()
    published = publish_directory(
        store,
        new,
        site(tmp_path, {"lib.js": b"console.log('reused')", "index.html": b"<h1>new</h1>"}),
        state=state,
    )
    assert (published.files_uploaded, published.files_reused) == (1, 1)
    candidates = unreferenced(store, marked, clock_margin_seconds=NO_AGE_GUARD)
    assert blob_key(published.manifest.files["/lib.js"].blob) in {blob_key(s) for s in candidates}

    result = sweep(store, state, marked, candidates)

    assert result.deferred is None
    assert serves_everything(store, new)
    # Only the body no manifest names went.
    assert list(result.removed) == [old.files["/index.html"].blob]
    assert not store.exists(blob_key(old.files["/index.html"].blob))


def test_a_sweep_waits_for_a_publish_in_flight_and_then_sees_its_manifest(
    store: ObjectStore, state: PlatformState
) -> None:
    old = removed_deployment(store, {"/app.js": b"console.log('old and reused')"})
    reused = old.files["/app.js"]
    marked = mark(store)
    candidates = unreferenced(store, marked, clock_margin_seconds=NO_AGE_GUARD)
    assert list(candidates) == [reused.blob]

    new = new_deployment_id()
    checked, go = threading.Event(), threading.Event()

    def publisher() -> None:
        # The publisher's own steps: lease, "already stored?", then the manifest last.
        with publishing_lease(state, new):
            assert not store.missing([blob_key(reused.blob)])  # stored: not uploaded again
            checked.set()
            go.wait(30)
            manifest = Manifest(new, {"/app.js": reused}, created_at=time.time())
            store.put_bytes(manifest_key(new), manifest.to_json(), "application/json")

    thread = threading.Thread(target=publisher)
    thread.start()
    assert checked.wait(30)
    sweeper: dict[str, object] = {}
    sweeping = threading.Thread(
        target=lambda: sweeper.update(
            result=sweep(store, state, marked, candidates, wait_seconds=60)
        )
    )
    sweeping.start()
    # While the publisher holds its lease the sweep cannot delete (nor finish).
    sweeping.join(timeout=2)
    assert sweeping.is_alive(), "the sweep went ahead during a publish"
    go.set()
    thread.join(30)
    sweeping.join(60)

    assert serves_everything(store, new)
    assert sweeper["result"].removed == {}  # type: ignore[attr-defined]


def test_a_sweep_gives_up_while_a_publish_never_ends(
    store: ObjectStore, state: PlatformState
) -> None:
    old = removed_deployment(store, {"/index.html": b"<h1>orphan</h1>"})
    marked = mark(store)
    candidates = unreferenced(store, marked, clock_margin_seconds=NO_AGE_GUARD)

    with publishing_lease(state, new_deployment_id()):
        result = sweep(store, state, marked, candidates, wait_seconds=0.5)
    assert result.deferred is not None and "1 publish(es) in flight" in result.deferred
    assert result.removed == {}
    assert store.exists(blob_key(old.files["/index.html"].blob))

    # The next run, with no publish going on, sweeps it.
    again = sweep(store, state, marked, candidates, wait_seconds=5)
    assert again.deferred is None and not store.exists(blob_key(old.files["/index.html"].blob))


def test_a_publish_waits_while_a_batch_is_deleted(store: ObjectStore, state: PlatformState) -> None:
    with sweep_fence(state, wait_seconds=5):
        with pytest.raises(PublishBlocked, match="garbage collection held the object store"):
            with publishing_lease(state, new_deployment_id(), wait_seconds=0.5):
                pass
    with publishing_lease(state, new_deployment_id(), wait_seconds=5):
        pass  # the fence is gone


def test_only_bodies_older_than_the_mark_are_candidates(
    local_store_root: Path, state: PlatformState
) -> None:
    """The age guard, for publishers without a lease (e.g. an older version in a rolling
    upgrade); on a local store, where a body's age can be set."""
    store = LocalObjectStore(local_store_root)
    old = removed_deployment(store, {"/a.html": b"<h1>a</h1>", "/b.html": b"<h1>b</h1>"})
    a, b = (old.files[path].blob for path in ("/a.html", "/b.html"))
    hour_ago = time.time() - 3600
    os.utime(local_store_root / blob_key(a), (hour_ago, hour_ago))

    marked = mark(store)  # b was written a moment ago: within the clock margin

    assert list(unreferenced(store, marked)) == [a]


def test_an_unreadable_manifest_stops_the_sweep(store: ObjectStore) -> None:
    removed_deployment(store, {"/index.html": b"<h1>x</h1>"})
    store.put_bytes(manifest_key(new_deployment_id()), b"{not json", "application/json")
    with pytest.raises(ValueError, match="bodies are not swept while a manifest is unreadable"):
        mark(store)
