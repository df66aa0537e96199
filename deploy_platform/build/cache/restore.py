"""Restore cached directories: the exact entry, else the newest of the same tools.

SECURITY: an entry is as untrusted as a source upload (see the package docstring):
every part goes through `safe_extract`, and a refused entry is wiped from the
targets and its sidecar dropped before anything else is tried.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy_platform.build.cache.entries import Entry, project_entries, read_entry
from deploy_platform.build.cache.keys import entry_object_key, entry_prefix, split_key
from deploy_platform.build.cache.trees import is_direct_path, is_empty_dir, part_label
from deploy_platform.source.archive.tree import empty_directory
from deploy_platform.source.archive.unpack import safe_extract
from deploy_platform.storage import ObjectStore, ObjectStoreError

__all__ = [
    "DEFAULT_MAX_RESTORE_BYTES",
    "DEFAULT_MAX_RESTORE_FILES",
    "CacheRestore",
    "restore",
]

log = logging.getLogger(__package__)  # one logger for the whole cache

DEFAULT_MAX_RESTORE_BYTES = 5 * 1024**3
DEFAULT_MAX_RESTORE_FILES = 1_000_000


@dataclass(frozen=True)
class CacheRestore:
    """What `restore` did.

    `hit`: something was restored; `exact`: from the requested key's own entry, else
    from the fallback entry `source_key`. `bytes` counts packed bytes downloaded.
    `reason` says why nothing (or not everything) was restored, or is None.
    """

    key: str
    hit: bool
    exact: bool = False
    source_key: str | None = None
    restored: tuple[str, ...] = ()
    bytes: int = 0
    duration_s: float = 0.0
    reason: str | None = None


def restore(
    store: ObjectStore,
    key: str,
    targets: Mapping[str, Path],
    *,
    fallback: bool = True,
    clean: bool = False,
    max_bytes: int = DEFAULT_MAX_RESTORE_BYTES,
    max_files: int = DEFAULT_MAX_RESTORE_FILES,
    scratch: Path | None = None,
) -> CacheRestore:
    """Unpack the cached directories named in `targets` into their paths.

    Tries the exact entry for `key`, then (with `fallback`) the newest entry of the
    same project, package manager, version and Node major. A target that exists and
    is not empty, or that leads through a symlink, is left alone (pass resolved
    paths). Never raises: the result's `reason` says what failed.

    `clean` (a clean build, Vercel's "redeploy without cache") restores nothing; the
    caller still calls `save` afterwards, so the next build starts from the fresh cache.
    """
    started = time.monotonic()

    def result(**fields: Any) -> CacheRestore:
        return CacheRestore(key=key, duration_s=round(time.monotonic() - started, 3), **fields)

    if clean:
        return result(hit=False, reason="clean build: cache not restored")
    try:
        project, entry_name = split_key(key)
        notes: list[str] = []
        candidates: list[tuple[Entry, bool]] = []
        try:
            exact = read_entry(store, key)
        except ValueError as exc:
            exact = None
            notes.append(f"exact entry unreadable ({exc})")
        if exact is not None:
            candidates.append((exact, True))
        if fallback:
            for other in project_entries(store, project, entry_prefix(entry_name)):
                if other.key != key:
                    candidates.append((other, False))
                    break
        if not candidates:
            return result(hit=False, reason="; ".join(notes + ["no cache entry"]))
        for entry, is_exact in candidates:
            outcome = _restore_entry(store, entry, targets, max_bytes, max_files, scratch)
            if isinstance(outcome, Exception):
                log.warning("build cache: entry %s refused: %s", entry.key, outcome)
                notes.append(f"entry {entry.key} refused: {outcome}")
                if not isinstance(outcome, ObjectStoreError):
                    # Damaged or hostile, not a passing network error: drop its sidecar
                    # so this build's save replaces it instead of finding it "unchanged".
                    _forget(store, entry)
                continue
            names, size, skipped = outcome
            notes.extend(skipped)
            if not names:
                notes.append(f"entry {entry.key} holds none of {', '.join(sorted(targets))}")
                continue
            return result(
                hit=True,
                exact=is_exact,
                source_key=entry.key,
                restored=names,
                bytes=size,
                reason="; ".join(notes) or None,
            )
        return result(hit=False, reason="; ".join(notes))
    except Exception as exc:  # noqa: BLE001 - a broken cache never fails a build
        log.warning("build cache: restore of %s failed: %s", key, exc)
        return result(hit=False, reason=f"restore failed: {exc}")


def _restore_entry(
    store: ObjectStore,
    entry: Entry,
    targets: Mapping[str, Path],
    max_bytes: int,
    max_files: int,
    scratch: Path | None,
) -> tuple[tuple[str, ...], int, list[str]] | Exception:
    """(restored names, packed bytes, notes), or the error that refused the entry.

    On refusal every target this call filled is emptied again: half of a hostile
    entry is not kept.
    """
    restored: list[str] = []
    skipped: list[str] = []
    downloaded = 0
    budget_bytes, budget_files = max_bytes, max_files
    filled: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="build-cache-", dir=scratch) as tmp:
        try:
            for name in sorted(targets):
                part = entry.parts.get(name)
                if part is None:
                    continue
                target = Path(targets[name])
                if not is_direct_path(target):
                    # SECURITY: a symlink on the way (the repository's own, say
                    # `.next -> public`) would put the cache somewhere else.
                    skipped.append(f"{name}: {target} leads through a symlink, not restored")
                    continue
                if target.exists() and not is_empty_dir(target):
                    skipped.append(f"{name}: {target} already exists, kept as is")
                    continue
                archive = Path(tmp) / f"{part_label(name)}.tar.gz"
                store.download_file(part.object_key, archive)
                downloaded += archive.stat().st_size
                filled.append(target)
                stats = safe_extract(
                    archive, target, max_bytes=budget_bytes, max_files=budget_files
                )
                archive.unlink()
                budget_bytes -= stats.bytes
                budget_files -= stats.files
                restored.append(name)
        except Exception as exc:  # noqa: BLE001 - reported as a refusal, never raised
            for target in filled:
                _wipe(target)
            return exc
    return tuple(restored), downloaded, skipped


def _forget(store: ObjectStore, entry: Entry) -> None:
    try:
        store.delete(entry_object_key(entry.key))
    except Exception as exc:  # noqa: BLE001 - the next prune tries again
        log.warning("build cache: could not delete entry %s: %s", entry.key, exc)


def _wipe(target: Path) -> None:
    try:
        if target.is_dir() and not target.is_symlink():
            empty_directory(target)
    except OSError as exc:
        log.warning("build cache: could not empty %s: %s", target, exc)
