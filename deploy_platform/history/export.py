"""The history export on disk: every deployment's facts and where reading Dagster stopped.

It lives inside the Dagster instance's own directory (`DAGSTER_HOME`), at
`<DAGSTER_HOME>/deploy-platform-history/export.json`, so it always belongs to the
instance it was read from; deleting it only costs one full read of Dagster's
records. Written beside and renamed, so a reader never sees half a file; two
writers (the control API, a retention run) may race, and the loser's next
refresh reads again what the winner had not.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import dagster as dg

from deploy_platform.history.collect import HistoryExport

__all__ = ["EXPORT_DIR", "export_path", "load_export", "save_export", "refreshed_export"]

log = logging.getLogger(__name__)

EXPORT_DIR = "deploy-platform-history"


def export_path(instance: dg.DagsterInstance) -> Path:
    return Path(instance.root_directory) / EXPORT_DIR / "export.json"


def load_export(path: Path) -> HistoryExport:
    """The export at `path`; an empty one if there is none or it cannot be read."""
    try:
        return HistoryExport.from_dict(json.loads(path.read_bytes()))
    except FileNotFoundError:
        return HistoryExport()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("history export %s is unreadable (%s); reading Dagster again", path, exc)
        return HistoryExport()


def save_export(export: HistoryExport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(export.to_dict(), separators=(",", ":")))
    tmp.replace(path)


def refreshed_export(
    instance: dg.DagsterInstance,
    export: HistoryExport | None = None,
    path: Path | None = None,
    *,
    save: bool = True,
) -> tuple[HistoryExport, set[str]]:
    """`export` (else the one on disk) brought up to date, and with `save` written if
    anything changed; with the ids of the deployments that changed (all after a rebuild)."""
    path = path or export_path(instance)
    export = export if export is not None else load_export(path)
    if export.is_behind(instance):
        log.warning("the Dagster instance holds less than the history export; reading it again")
        export = HistoryExport()
    changed = export.refresh(instance)
    if save and (changed or not path.exists()):
        save_export(export, path)
    return export, changed
