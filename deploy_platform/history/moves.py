"""Rollbacks and promotes from the alias move log (`deploy_platform.publish.alias_moves`), for the
history's `trigger` column (`rows.apply_alias_moves`).

A rollback or promote builds nothing, so Dagster has no record of it: the move log
in the object store does. Its entries never change once written, so each is read
once; every query lists the log (`alias-moves/`, one listing request per 1,000
moves) and reads only entries it has not seen.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from deploy_platform.history.rows import ALIAS_TRIGGERS
from deploy_platform.publish.alias_moves import MOVES_PREFIX, AliasMoveEntry
from deploy_platform.storage import ObjectNotFound, ObjectStore

__all__ = ["AliasMoveLog"]

log = logging.getLogger(__name__)


class AliasMoveLog:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        # key -> the entry as a dict when it is a rollback or promote, else None.
        self._read: dict[str, dict[str, Any] | None] = {}

    def __call__(self) -> list[dict[str, Any]]:
        """Every rollback and promote in the log."""
        keys = [info.key for info in self.store.list(MOVES_PREFIX)]
        for key in keys:
            if key not in self._read:
                self._read[key] = self._entry(key)
        return [entry for key in keys if (entry := self._read.get(key)) is not None]

    def _entry(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.store.get_bytes(key))
            entry = AliasMoveEntry.from_dict(data if isinstance(data, dict) else {})
        except ObjectNotFound:
            return None
        except ValueError as exc:
            log.warning("alias move %s is not a move entry (%s); left out", key, exc)
            return None
        return entry.to_dict() if entry.reason in ALIAS_TRIGGERS else None
