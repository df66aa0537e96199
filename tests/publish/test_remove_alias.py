"""Taking an alias down (`publish.remove_alias`): the pointer, the Redis index, and the
announcement edge-origins follow; the deployments themselves stay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy_platform.contracts.manifest import alias_key, manifest_key
from deploy_platform.publish.aliases import read_alias, remove_alias
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.alias_changes import announced
from tests.support.deployments import point_alias, write_deployment

FIRST, SECOND = "aaaaaaaaaaa2", "bbbbbbbbbbb3"


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


def test_the_alias_goes_and_its_deployment_stays(
    store: LocalObjectStore, state: PlatformState, alias_changes: Any
) -> None:
    write_deployment(store, FIRST, {"/index.html": b"<h1>one</h1>"})
    point_alias(store, state, "feature-x--docs", FIRST)
    point_alias(store, state, "docs", FIRST)
    announced(alias_changes)

    assert remove_alias(store, state, "feature-x--docs") == FIRST

    assert not store.exists(alias_key("feature-x--docs"))
    assert state.get_alias("feature-x--docs") is None
    assert announced(alias_changes) == ["feature-x--docs"]
    assert store.exists(manifest_key(FIRST))
    assert read_alias(store, "docs") == FIRST == state.get_alias("docs")


def test_an_alias_that_shows_something_else_is_kept(
    store: LocalObjectStore, state: PlatformState, alias_changes: Any
) -> None:
    point_alias(store, state, "feature-a--docs", SECOND)
    announced(alias_changes)
    seen: list[str] = []

    def keep(deployment_id: str) -> bool:
        seen.append(deployment_id)
        return deployment_id == SECOND

    assert remove_alias(store, state, "feature-a--docs", keep=keep) is None

    assert seen == [SECOND]
    assert read_alias(store, "feature-a--docs") == SECOND == state.get_alias("feature-a--docs")
    assert announced(alias_changes) == []


def test_an_alias_never_set_is_left_alone(
    store: LocalObjectStore, state: PlatformState, alias_changes: Any
) -> None:
    assert remove_alias(store, state, "nothing--docs") is None
    assert announced(alias_changes) == []


def test_an_index_entry_without_its_pointer_is_cleared(
    store: LocalObjectStore, state: PlatformState, alias_changes: Any
) -> None:
    """Redis can hold an alias whose pointer is gone (a store restored from backup)."""
    state.set_alias("stale--docs", FIRST)
    announced(alias_changes)

    assert remove_alias(store, state, "stale--docs") is None

    assert state.get_alias("stale--docs") is None
    assert announced(alias_changes) == ["stale--docs"]
