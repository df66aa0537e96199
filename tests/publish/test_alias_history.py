"""The alias pointer's history, which skew protection reads (`deploy_platform.contracts.skew`)."""

from __future__ import annotations

import json
from pathlib import Path

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import alias_key
from deploy_platform.contracts.skew import MAX_HISTORY, Replaced, history_from_pointer, within_grace
from deploy_platform.publish.aliases import point_alias
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState


def history(store: LocalObjectStore, alias: str = "docs") -> list[str]:
    pointer = json.loads(store.get_bytes(alias_key(alias)))
    return [entry["deployment"] for entry in pointer["history"]]


def test_each_move_puts_the_deployment_moved_away_from_first(
    state: PlatformState, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    a, b, c = (new_deployment_id() for _ in range(3))
    point_alias(store, state, "docs", a)
    assert history(store) == []
    point_alias(store, state, "docs", b)
    point_alias(store, state, "docs", c)
    assert history(store) == [b, a]
    pointer = json.loads(store.get_bytes(alias_key("docs")))
    stamps = [entry["replaced_at"] for entry in pointer["history"]]
    assert stamps[0] >= stamps[1] and stamps[0] == pointer["updated_at"]


def test_re_pointing_at_the_current_deployment_changes_nothing(
    state: PlatformState, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    a, b = new_deployment_id(), new_deployment_id()
    point_alias(store, state, "docs", a)
    point_alias(store, state, "docs", b)
    before = json.loads(store.get_bytes(alias_key("docs")))["history"]
    point_alias(store, state, "docs", b)
    assert json.loads(store.get_bytes(alias_key("docs")))["history"] == before


def test_a_rollback_takes_its_target_out_of_the_history(
    state: PlatformState, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    a, b, c = (new_deployment_id() for _ in range(3))
    for deployment in (a, b, c):
        point_alias(store, state, "docs", deployment)
    point_alias(store, state, "docs", a)  # roll back from c to a
    assert history(store) == [c, b]
    point_alias(store, state, "docs", c)  # and forward again
    assert history(store) == [a, b]


def test_the_history_is_capped(state: PlatformState, local_store_root: Path) -> None:
    store = LocalObjectStore(local_store_root)
    ids = [new_deployment_id() for _ in range(MAX_HISTORY + 3)]
    for deployment in ids:
        point_alias(store, state, "docs", deployment)
    assert history(store) == list(reversed(ids[:-1]))[:MAX_HISTORY]


def test_an_old_pointer_without_history_moves_and_starts_one(
    state: PlatformState, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    a, b = new_deployment_id(), new_deployment_id()
    old = {"deployment": a, "previous": None, "updated_at": 1700000000.0}
    store.put_bytes(alias_key("docs"), json.dumps(old).encode())
    point_alias(store, state, "docs", b)
    assert history(store) == [a]


def test_malformed_entries_are_left_out_and_grace_is_measured_from_replaced_at() -> None:
    a, b = new_deployment_id(), new_deployment_id()
    pointer = {
        "history": [
            {"deployment": a, "replaced_at": 1000.0},
            {"deployment": "not-an-id", "replaced_at": 1000.0},
            {"deployment": b, "replaced_at": True},
            "junk",
            {"deployment": b, "replaced_at": 500},
        ]
    }
    entries = history_from_pointer(pointer)
    assert entries == (Replaced(a, 1000.0), Replaced(b, 500.0))
    assert within_grace(entries, now=1099.0, grace_seconds=100) == [a]
    assert within_grace(entries, now=1100.0, grace_seconds=100) == []
    assert within_grace(entries, now=550.0, grace_seconds=100) == [a, b]
    assert history_from_pointer({"history": "nonsense"}) == ()
    assert history_from_pointer({}) == ()
