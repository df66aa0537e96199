"""History rows kept in the object store for deployments whose Dagster records go.

Retention calls `archive_rows(instance, store, ids)` before it deletes the runs and
materializations of old deployments; `deploy-platform history` and `GET /api/history`
merge the archived rows with the live ones (marked `archived`), so the history of a
removed deployment stays queryable. One immutable object per call:

  history/archive/<UTC time>-<nonce>.json
    {"version": 1, "archived_at": 1700000000.0, "rows": [{"id": ..., ...}, ...]}

Rows are written as `deployment_row` makes them (times as Unix seconds). An id
archived twice keeps the row of the later object.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from deploy_platform.history.export import refreshed_export
from deploy_platform.history.rows import deployment_row
from deploy_platform.storage import ObjectNotFound, ObjectStore

__all__ = ["ARCHIVE_PREFIX", "archive_rows", "ArchivedRows"]

log = logging.getLogger(__name__)

ARCHIVE_PREFIX = "history/archive/"
_VERSION = 1


def archive_rows(
    instance: dg.DagsterInstance, store: ObjectStore, deployment_ids: Iterable[str]
) -> int:
    """Store the history rows of `deployment_ids` (those Dagster has records of) in the
    object store; how many were stored. Call it before deleting their records."""
    wanted = sorted(set(deployment_ids))
    export, _ = refreshed_export(instance)
    rows = [
        {**deployment_row(export.deployments[dep]), "archived": True}
        for dep in wanted
        if dep in export.deployments
    ]
    if not rows:
        return 0
    now = time.time()
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%S%fZ")
    key = f"{ARCHIVE_PREFIX}{stamp}-{secrets.token_hex(4)}.json"
    body = {"version": _VERSION, "archived_at": now, "rows": rows}
    store.put_bytes(key, json.dumps(body, separators=(",", ":")).encode(), "application/json")
    return len(rows)


class ArchivedRows:
    """The archived rows, read once per object (they never change)."""

    def __init__(self) -> None:
        self._objects: dict[str, list[dict[str, Any]]] = {}

    def load(self, store: ObjectStore) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        keys = [info.key for info in store.list(ARCHIVE_PREFIX)]
        for key in keys:  # sorted by key, so oldest first: later archives win
            if key not in self._objects:
                self._objects[key] = _read(store, key)
            for row in self._objects[key]:
                rows[str(row["id"])] = row
        for gone in set(self._objects) - set(keys):
            del self._objects[gone]
        return rows


def _read(store: ObjectStore, key: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(store.get_bytes(key))
    except ObjectNotFound:
        return []  # removed since the listing
    except ValueError as exc:
        log.warning("archived history %s is not JSON (%s); its rows are left out", key, exc)
        return []
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        log.warning("archived history %s is not version %d; its rows are left out", key, _VERSION)
        return []
    return [row for row in data.get("rows") or [] if isinstance(row, dict) and "id" in row]
