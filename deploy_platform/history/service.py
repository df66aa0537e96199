"""The deployment history over one Dagster instance: what `GET /api/history` answers.

`HistoryService.page(query)` refreshes the export (`export.py`: only records newer
than the last query are read), merges the rows archived in the object store
(`archive.py`), and selects the page (`query.py`). The frame is rebuilt only when a
deployment changed; one query at a time (a lock), since they share the export.

The archive and the alias move log live in the object store, where listing them
costs a request per 1,000 objects: they are listed again at most every
`STORE_REFRESH_SECONDS`, or at the next query after `store_changed()` (the control
API calls it after a rollback or promote it made). A gc or a rollback made by
another process shows within that interval.

The export on disk is written when the first query read everything, then at most
every `SAVE_INTERVAL_SECONDS` while something changed, and on `close`: writing
10,000 deployments' facts takes most of a second, and what was not written yet is
only read again from Dagster after a restart.

`query_history(instance, store, query)` is the same for one call (a script, the
benchmark).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from deploy_platform.history.archive import ArchivedRows
from deploy_platform.history.collect import HistoryExport
from deploy_platform.history.export import (
    export_path,
    load_export,
    refreshed_export,
    save_export,
)
from deploy_platform.history.query import HistoryQuery, Page, rows_frame, select
from deploy_platform.history.rows import apply_alias_moves, deployment_row
from deploy_platform.storage import ObjectStore

__all__ = [
    "HistoryService",
    "query_history",
    "SAVE_INTERVAL_SECONDS",
    "STORE_REFRESH_SECONDS",
]

SAVE_INTERVAL_SECONDS = 60.0
STORE_REFRESH_SECONDS = 10.0


class HistoryService:
    def __init__(
        self,
        instance: dg.DagsterInstance,
        store: ObjectStore,
        path: Path | None = None,
        alias_moves: Callable[[], Iterable[Mapping[str, Any]]] | None = None,
    ) -> None:
        """`alias_moves` lists the alias move log's entries (rollbacks and promotes name
        the trigger of the deployment they went back to; see `rows.apply_alias_moves`)."""
        self.instance = instance
        self.store = store
        self.alias_moves = alias_moves
        self.path = path or export_path(instance)
        self._lock = threading.Lock()
        self._export: HistoryExport | None = None
        self._rows: dict[str, dict[str, Any]] = {}
        self._archive = ArchivedRows()
        self._archived: dict[str, dict[str, Any]] = {}
        self._frame: pd.DataFrame | None = None
        self._moves: list[Mapping[str, Any]] = []
        self._saved_at = time.monotonic()
        self._unsaved = False
        self._store_read_at: float | None = None
        self._store_stale = True

    def frame(self) -> pd.DataFrame:
        """Every deployment's row, newest first."""
        with self._lock:
            return self._current()

    def page(self, query: HistoryQuery) -> Page:
        with self._lock:
            return select(self._current(), query)

    def store_changed(self) -> None:
        """The archive or the alias move log changed: list them again at the next query."""
        self._store_stale = True

    def close(self) -> None:
        """Write what the export has not written yet."""
        with self._lock:
            if self._export is not None and self._unsaved:
                save_export(self._export, self.path)
                self._unsaved = False

    def _current(self) -> pd.DataFrame:
        first = self._export is None
        if first:
            self._export = load_export(self.path)
        now = time.monotonic()
        export, changed = refreshed_export(self.instance, self._export, self.path, save=False)
        rebuilt = export is not self._export
        self._unsaved = self._unsaved or bool(changed) or rebuilt
        # Written at once when the whole history was just read (a first, cold query).
        cold = rebuilt or (first and len(changed) == len(export.deployments))
        if self._unsaved and (cold or now - self._saved_at >= SAVE_INTERVAL_SECONDS):
            save_export(export, self.path)
            self._saved_at, self._unsaved = now, False
        if rebuilt or first:
            changed = set(export.deployments)
            self._rows = {}
        self._export = export
        for deployment_id in changed:
            self._rows[deployment_id] = deployment_row(export.deployments[deployment_id])
        archived, moves = self._store_inputs(now)
        if (
            changed
            or moves != self._moves
            or archived.keys() != self._archived.keys()
            or self._frame is None
        ):
            self._archived = archived
            self._moves = moves
            merged = {**archived, **self._rows}
            for deployment_id in archived.keys() & self._rows.keys():
                merged[deployment_id] = {**self._rows[deployment_id], "archived": True}
            if moves:
                merged = {key: dict(row) for key, row in merged.items()}
                apply_alias_moves(merged, moves)
            self._frame = rows_frame(list(merged.values()))
        return self._frame

    def _store_inputs(
        self, now: float
    ) -> tuple[dict[str, dict[str, Any]], list[Mapping[str, Any]]]:
        """The archived rows and the rollbacks and promotes, listed again when due."""
        due = (
            self._store_stale
            or self._store_read_at is None
            or now - self._store_read_at >= STORE_REFRESH_SECONDS
        )
        if not due:
            return self._archived, self._moves
        # Cleared before reading: a change announced during the listing is listed next time.
        self._store_stale = False
        archived = self._archive.load(self.store)
        moves = list(self.alias_moves()) if self.alias_moves is not None else []
        self._store_read_at = now
        return archived, moves


def query_history(instance: dg.DagsterInstance, store: ObjectStore, query: HistoryQuery) -> Page:
    service = HistoryService(instance, store)
    try:
        return service.page(query)
    finally:
        service.close()
