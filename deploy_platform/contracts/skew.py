"""Skew protection: which earlier deployments of an alias may still serve their assets.

A visitor's open tab holds HTML of the deployment that was live when it loaded;
the scripts and styles it asks for next are fingerprinted names
(`deploy_platform.contracts.fingerprint`) that a new deployment no longer has. So the
alias pointer `aliases/<name>.json` keeps the deployments it pointed at before,
newest first:

  {"deployment": "<current id>", "previous": "<id>", "updated_at": 1700000300.0,
   "history": [{"deployment": "<id>", "replaced_at": 1700000300.0}, ...]}

`replaced_at` is when the alias moved away from that deployment (wall-clock
seconds). The edge decides how long that stays useful (its skew grace period,
`DP_EDGE_SKEW_GRACE_SECONDS` / the Worker's `SKEW_GRACE_SECONDS`): an entry
serves while `now < replaced_at + grace`, so changing the grace applies at once
to every alias, with no rewrite of pointers. Pointers written before `history`
existed have none, and serve as before.

How a move changes the history (`next_history`):
  - to another deployment: the one moved away from goes first, stamped now;
  - a deployment that becomes current again (a rollback, or a promote after
    it) leaves the history: its assets are current, not old;
  - re-pointing at the current deployment changes nothing;
  - at most `MAX_HISTORY` entries are kept (older ones drop off the end).
A rollback from B to A therefore keeps B's assets reachable for the grace
period (tabs opened on B keep working) and A's are served as the current ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deploy_platform.contracts.ids import is_deployment_id

__all__ = [
    "MAX_HISTORY",
    "DEFAULT_GRACE_SECONDS",
    "Replaced",
    "history_from_pointer",
    "next_history",
    "within_grace",
]

log = logging.getLogger(__name__)

MAX_HISTORY = 5
#: 12 hours, like Vercel's default skew protection maximum age: long enough for
#: a tab left open over a working day, short enough that a leaked old bundle
#: does not linger for weeks.
DEFAULT_GRACE_SECONDS = 12 * 3600.0


@dataclass(frozen=True)
class Replaced:
    """An earlier deployment of the alias and when the alias moved away from it."""

    deployment: str
    replaced_at: float

    def to_dict(self) -> dict[str, object]:
        return {"deployment": self.deployment, "replaced_at": self.replaced_at}


def history_from_pointer(pointer: Mapping[str, object]) -> tuple[Replaced, ...]:
    """The pointer's history, newest first; malformed entries are left out.

    Lenient on purpose: a damaged history must never take the live site down,
    it only means fewer old assets are found.
    """
    raw = pointer.get("history")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        log.warning("alias pointer history is %s, not a list; ignored", type(raw).__name__)
        return ()
    entries: list[Replaced] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        deployment, replaced_at = item.get("deployment"), item.get("replaced_at")
        if (
            isinstance(deployment, str)
            and is_deployment_id(deployment)
            and isinstance(replaced_at, int | float)
            and not isinstance(replaced_at, bool)
        ):
            entries.append(Replaced(deployment, float(replaced_at)))
    return tuple(entries[:MAX_HISTORY])


def next_history(
    pointer: Mapping[str, object], new_target: str, now: float
) -> list[dict[str, object]]:
    """The `history` to write when the alias (currently `pointer`) moves to `new_target`."""
    current = pointer.get("deployment")
    old = [entry for entry in history_from_pointer(pointer) if entry.deployment != new_target]
    if isinstance(current, str) and is_deployment_id(current) and current != new_target:
        old = [Replaced(current, now)] + [e for e in old if e.deployment != current]
    return [entry.to_dict() for entry in old[:MAX_HISTORY]]


def within_grace(history: Sequence[Replaced], now: float, grace_seconds: float) -> list[str]:
    """Deployment ids whose assets may still be served, newest first."""
    return [entry.deployment for entry in history if now < entry.replaced_at + grace_seconds]
