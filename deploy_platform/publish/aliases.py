"""Moving aliases: the durable pointer, the Redis index, the edge's index hook (dagster-free).

Aliases move only after the deployment's manifest is written
(`deploy_platform.publish.deployment`): first the durable pointer `aliases/<name>.json`
in the object store (the source of truth), then the Redis index, whose
pub/sub message tells edge-origins to drop their cached lookup, then the
optional `AliasIndexHook` (the Worker's KV index, `deploy_platform.publish.cloudflare_kv`),
whose failures are its own business: they never fail the move. The pointer
keeps the deployments it pointed at before (`history`, see
`deploy_platform.contracts.skew`), whose fingerprinted assets stay reachable for a grace
period so open tabs do not break. A move made with a `MoveNote` is written to
the project's alias move log (`deploy_platform.publish.alias_moves`) right after the
pointer, still under the alias lock, and the pointer says who made it
(`moved_by`: actor and reason).

A deployment that finishes goes live unless the alias already shows a later
one: a deployment queued later, or one a person chose (rollback, promote,
re-materialization in the Dagster UI) after it was queued. So a build that was
under way during a rollback does not undo the rollback; a push after it deploys.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.lock import Lock

from deploy_platform.contracts.manifest import alias_key
from deploy_platform.contracts.skew import next_history
from deploy_platform.publish.alias_moves import CHOSEN_REASONS, MoveNote, record_move
from deploy_platform.storage import ObjectNotFound, ObjectStore, ObjectStoreError
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "AliasMove",
    "point_alias",
    "remove_alias",
    "move_alias_if_newer",
    "read_alias",
    "read_alias_pointer",
    "AliasIndexHook",
]

_log = logging.getLogger(__name__)

# Held while an alias moves so that two deployments finishing together cannot
# interleave their pointer and index writes; expires if the holder dies.
_ALIAS_LOCK_SECONDS = 30


class AliasIndexHook(Protocol):
    """Told after an alias pointer was written (under the alias lock); must not raise."""

    def pointer_written(self, store: ObjectStore, alias: str) -> bool: ...


@dataclass(frozen=True)
class AliasMove:
    alias: str
    moved: bool
    previous: str | None
    current: str
    #: Why a move was refused (`moved` False), for logs: what holds the alias.
    kept_because: str = ""


def read_alias_pointer(store: ObjectStore, alias: str) -> dict[str, object] | None:
    """The durable pointer `aliases/<alias>.json`, or None when the alias was never set."""
    try:
        raw = store.get_bytes(alias_key(alias))
    except ObjectNotFound:
        return None
    data = json.loads(raw)
    return data if isinstance(data, dict) else None


def read_alias(store: ObjectStore, alias: str) -> str | None:
    """The deployment id the alias points at, from the object store (the source of truth)."""
    pointer = read_alias_pointer(store, alias)
    return _str_or_none(pointer.get("deployment")) if pointer else None


def point_alias(
    store: ObjectStore,
    state: PlatformState,
    alias: str,
    deployment_id: str,
    index: AliasIndexHook | None = None,
    *,
    note: MoveNote | None = None,
) -> str | None:
    """Point `alias` at the deployment (pointer first, then Redis); returns the previous id.

    With a `note` the move is logged (`deploy_platform.publish.alias_moves`); every move the
    platform makes has one.
    """
    with _alias_lock(state, alias):
        return _write_alias(store, state, alias, deployment_id, index, note)


def remove_alias(
    store: ObjectStore,
    state: PlatformState,
    alias: str,
    index: AliasIndexHook | None = None,
    *,
    keep: Callable[[str], bool] | None = None,
    note: MoveNote | None = None,
) -> str | None:
    """Take `alias` down (a deleted branch's preview); returns the deployment it showed.

    The durable pointer goes first (the source of truth: an edge-origin that misses
    in Redis reads it), then the Redis key with an `alias-changed` message so every
    edge-origin drops its cached answer, then the index hook, which finds no pointer
    and deletes its copy. The deployments stay, each at its own immutable host.
    `keep(deployment_id)` true leaves the alias as it is (it now shows something
    else, such as another branch with the same slug); None is returned then, and
    when the alias was not set. With a `note` the removal is logged (`to` null).
    """
    with _alias_lock(state, alias):
        current = read_alias(store, alias)
        if current is not None and keep is not None and keep(current):
            return None
        if current is None and state.get_alias(alias) is None:
            return None
        store.delete(alias_key(alias))
        state.delete_alias(alias)
        if note is not None and current is not None:
            _log_move(store, note, alias, current, None, time.time())
        if index is not None:
            index.pointer_written(store, alias)
        return current


def move_alias_if_newer(
    store: ObjectStore,
    state: PlatformState,
    alias: str,
    deployment_id: str,
    index: AliasIndexHook | None = None,
    *,
    note: MoveNote | None = None,
    asked_at: float | None = None,
) -> AliasMove:
    """Point `alias` at the deployment unless it already shows a later one.

    "Later" is compared with `asked_at`, when this deployment was asked for at this
    alias: by default when it was queued; a webhook that joins an existing build
    (`deploy_platform.github.webhooks.builds`) asks now.

    Two pushes in quick succession can finish out of order; the later push must
    stay live. A deployment a person chose (rollback, promote, UI re-materialization)
    after this one was queued stays live too. Rollbacks to an older deployment use
    `point_alias` instead.
    """
    with _alias_lock(state, alias):
        pointer = read_alias_pointer(store, alias) or {}
        current = _str_or_none(pointer.get("deployment"))
        if current is not None and current != deployment_id:
            queued = _queued_at(state, deployment_id) if asked_at is None else asked_at
            if _queued_at(state, current) > queued:
                return AliasMove(
                    alias, False, current, current, kept_because="it was deployed from a later push"
                )
            chosen = _chosen_after(pointer, queued)
            if chosen:
                return AliasMove(
                    alias,
                    False,
                    current,
                    current,
                    kept_because=f"a {chosen} chose it after this deployment was queued",
                )
        previous = _write_alias(store, state, alias, deployment_id, index, note)
        return AliasMove(alias, moved=True, previous=previous, current=deployment_id)


def _queued_at(state: PlatformState, deployment_id: str) -> float:
    record = state.find(deployment_id)
    if record is None:  # records can be gone (Redis rebuilt): never let them block a move
        return float("-inf")
    return record.timestamps.get("queued", float("-inf"))


def _chosen_after(pointer: dict[str, object], queued: float) -> str:
    """The reason ("rollback") if a person chose the pointer's deployment after `queued`."""
    moved_by, updated_at = pointer.get("moved_by"), pointer.get("updated_at")
    if not isinstance(moved_by, dict) or not isinstance(updated_at, int | float):
        return ""
    reason = moved_by.get("reason")
    return str(reason) if reason in CHOSEN_REASONS and updated_at > queued else ""


def _write_alias(
    store: ObjectStore,
    state: PlatformState,
    alias: str,
    deployment_id: str,
    index: AliasIndexHook | None = None,
    note: MoveNote | None = None,
) -> str | None:
    old = read_alias_pointer(store, alias) or {}
    old_target = _str_or_none(old.get("deployment"))
    same = old_target == deployment_id
    # Re-pointing at the same deployment keeps the history link it had.
    previous = _str_or_none(old.get("previous")) if same else old_target
    now = time.time()
    pointer: dict[str, object] = {
        "deployment": deployment_id,
        "updated_at": now,
        "previous": previous,
        "history": next_history(old, deployment_id, now),
    }
    # Who made the move; re-pointing at the same deployment moves nothing and keeps it.
    moved_by = old.get("moved_by") if same else None
    if note is not None and not same:
        moved_by = {"actor": note.actor, "reason": note.reason.value}
    if moved_by is not None:
        pointer["moved_by"] = moved_by
    store.put_bytes(
        alias_key(alias), json.dumps(pointer, sort_keys=True).encode(), "application/json"
    )
    state.set_alias(alias, deployment_id)
    if note is not None and not same:
        _log_move(store, note, alias, old_target, deployment_id, now)
    if index is not None:
        index.pointer_written(store, alias)
    return old_target


def _log_move(
    store: ObjectStore, note: MoveNote, alias: str, old: str | None, new: str | None, at: float
) -> None:
    """Append the move (`new` None: the alias was removed) to the log; never raises."""
    try:
        record_move(store, note.project, alias, old, new, note.actor, note.reason, at=at)
    except ObjectStoreError as exc:
        # The move is live and stays so; failing now would report a live deployment as
        # failed. The entry goes to this process's log instead.
        _log.error(
            "alias %s moved %s -> %s (%s by %s) but the move log could not be written: %s",
            alias,
            old,
            new,
            note.reason.value,
            note.actor,
            exc,
        )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _alias_lock(state: PlatformState, alias: str) -> Lock:
    return state.redis.lock(
        state.key("alias-lock", alias),
        timeout=_ALIAS_LOCK_SECONDS,
        blocking_timeout=_ALIAS_LOCK_SECONDS,
    )
