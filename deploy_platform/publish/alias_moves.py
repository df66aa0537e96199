"""The alias move log: who or what moved which alias of a project, from what, to what, when.

Every alias move is written down (dagster-free): a deploy going live, a
rollback, a promote, a re-materialization from the Dagster UI, the preview
alias of a deleted branch or a closed pull request removed. One immutable
object per move, in the object store (the source of truth, like the pointers
themselves):

  alias-moves/<project>/<newest-first stamp>-<nonce>.json
    {"at": 1700000300.25, "project": "docs", "alias": "docs",
     "from": "<id or null>", "to": "<id or null>",
     "actor": "cli:alice", "reason": "rollback"}

Append-only without a read-modify-write: writers never touch each other's
objects, so nothing needs a lock and no entry can be lost to a race. The stamp
is `10**16` minus the move's time in microseconds, zero-padded, so a listing
(sorted by key) starts with the newest move and a reader fetches only the
first few. `to` is null when the alias was removed (`branch-deleted`,
`pull-request-closed`), `from` when it was new.

`actor` says who asked: `api` (a token holder who did not say more),
`cli:<user>`, `dagster:<run id>` (a queued deploy's run), `dagster-ui:<run id>`
(a run started by hand in the Dagster UI), `webhook:<delivery id>`. The API
token does not name its holder, so an actor given through the API is what
the client claims; it is checked for shape only (`check_actor`).

Writers: `deploy_platform.publish.aliases` logs every move and removal made with a
`MoveNote` (`point_alias`, `move_alias_if_newer`, `remove_alias`), inside the
alias lock, right after the pointer is written; code that changes an alias some
other way calls `record_move` itself.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.contracts.json_types import json_type_name
from deploy_platform.storage import ObjectNotFound, ObjectStore

__all__ = [
    "MOVES_PREFIX",
    "MAX_ACTOR",
    "MoveReason",
    "CHOSEN_REASONS",
    "MoveNote",
    "AliasMoveEntry",
    "InvalidActor",
    "check_actor",
    "record_move",
    "list_moves",
    "project_of_alias",
]

log = logging.getLogger(__name__)

MOVES_PREFIX = "alias-moves/"
MAX_ACTOR = 100
# Microseconds until the year 2286: the newest-first stamp stays 16 digits until then.
_STAMP_BASE = 10**16
_ACTOR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]*$")
_FETCH_WORKERS = 8


class MoveReason(StrEnum):
    """Why an alias moved."""

    DEPLOY = "deploy"  # a deployment went live (queued by the API or a webhook)
    ROLLBACK = "rollback"
    PROMOTE = "promote"
    UI_REMATERIALIZATION = "ui-rematerialization"  # a partition materialized by hand
    BRANCH_DELETED = "branch-deleted"  # the branch's preview alias was removed
    PULL_REQUEST_CLOSED = "pull-request-closed"  # the pull request's pr-<n> alias was removed


#: Moves a person chose, naming the deployment: a deployment queued before one of
#: these must not undo it when it finishes (`deploy_platform.publish.aliases.move_alias_if_newer`).
CHOSEN_REASONS = frozenset(
    {MoveReason.ROLLBACK, MoveReason.PROMOTE, MoveReason.UI_REMATERIALIZATION}
)


@dataclass(frozen=True)
class MoveNote:
    """What an alias mover is told about a move so it can log it."""

    project: str
    actor: str
    reason: MoveReason


@dataclass(frozen=True)
class AliasMoveEntry:
    """One logged move; `from_deployment` / `to_deployment` are None for a new / removed alias."""

    at: float
    project: str
    alias: str
    from_deployment: str | None
    to_deployment: str | None
    actor: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        """The stored and answered form (`time` is `at` as ISO 8601, for people)."""
        return {
            "at": self.at,
            "time": datetime.fromtimestamp(self.at, UTC).isoformat().replace("+00:00", "Z"),
            "project": self.project,
            "alias": self.alias,
            "from": self.from_deployment,
            "to": self.to_deployment,
            "actor": self.actor,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AliasMoveEntry:
        """Raises ValueError for an object that is not a move entry."""
        at = data.get("at")
        if not isinstance(at, int | float) or isinstance(at, bool):
            raise ValueError("'at' is not a number")
        return cls(
            at=float(at),
            project=_text(data, "project"),
            alias=_text(data, "alias"),
            from_deployment=_id_or_none(data, "from"),
            to_deployment=_id_or_none(data, "to"),
            actor=_text(data, "actor"),
            reason=_text(data, "reason"),
        )


def _text(data: dict[str, object], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name!r} is not a string")
    return value


def _id_or_none(data: dict[str, object], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name!r} is not a deployment id or null")
    return value


class InvalidActor(InvalidRequest):
    code = "invalid_actor"


def check_actor(raw: object) -> str:
    """An actor as given by a client: `cli:alice`, `ci:build-42`; raises `InvalidActor`."""
    if not isinstance(raw, str):
        raise InvalidActor(f"actor must be a string, not {json_type_name(raw)}", field="actor")
    if not raw or len(raw) > MAX_ACTOR or not _ACTOR_RE.match(raw):
        raise InvalidActor(
            f"actor {raw[:40]!r} must be 1 to {MAX_ACTOR} letters, digits and . _ : @ / + -, "
            "starting with a letter or digit (for example cli:alice)",
            field="actor",
        )
    return raw


def project_of_alias(alias: str) -> str:
    """`docs` -> `docs`, `feature-x--docs` -> `docs` (`deploy_platform.contracts.names`: a branch
    slug and a project name never hold `--`, so the split is unambiguous)."""
    return alias.rpartition("--")[2]


def _prefix(project: str) -> str:
    return f"{MOVES_PREFIX}{project}/"


def record_move(
    store: ObjectStore,
    project: str,
    alias: str,
    from_id: str | None,
    to_id: str | None,
    actor: str,
    reason: MoveReason | str,
    *,
    at: float | None = None,
) -> AliasMoveEntry:
    """Append one move to the project's log (one new object); raises `ObjectStoreError`."""
    entry = AliasMoveEntry(
        at=time.time() if at is None else at,
        project=project,
        alias=alias,
        from_deployment=from_id,
        to_deployment=to_id,
        actor=actor,
        reason=str(reason),
    )
    stamp = _STAMP_BASE - int(entry.at * 1_000_000)
    key = f"{_prefix(project)}{stamp:016d}-{secrets.token_hex(4)}.json"
    body = json.dumps(entry.to_dict(), sort_keys=True).encode()
    store.put_bytes(key, body, "application/json")
    return entry


def list_moves(store: ObjectStore, project: str, *, limit: int = 50) -> list[AliasMoveEntry]:
    """The project's newest `limit` moves, newest first; unreadable entries are left out."""
    keys = [info.key for info in store.list(_prefix(project))][:limit]
    with ThreadPoolExecutor(max_workers=_FETCH_WORKERS, thread_name_prefix="alias-moves") as pool:
        entries = list(pool.map(lambda key: _read(store, key), keys))
    found = [entry for entry in entries if entry is not None]
    # Keys order by stamp already; equal stamps (same microsecond) fall back to time.
    return sorted(found, key=lambda entry: entry.at, reverse=True)


def _read(store: ObjectStore, key: str) -> AliasMoveEntry | None:
    try:
        data = json.loads(store.get_bytes(key))
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {json_type_name(data)}, not an object")
        return AliasMoveEntry.from_dict(data)
    except ObjectNotFound:
        return None
    except ValueError as exc:
        # A damaged entry costs one line of history, never the listing.
        log.warning("alias move %s is not a move entry (%s); left out", key, exc)
        return None
