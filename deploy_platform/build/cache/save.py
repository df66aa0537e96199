"""Save cached directories as a new entry, unless the exact entry restored still holds them."""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy_platform.build.cache.entries import Entry, Part, prune, read_entry, sidecar_json
from deploy_platform.build.cache.keys import CACHE_PREFIX, entry_object_key, split_key
from deploy_platform.build.cache.restore import CacheRestore
from deploy_platform.build.cache.trees import is_direct_path, part_label, tree_fingerprint
from deploy_platform.source.archive.pack import pack_directory
from deploy_platform.storage import ObjectStore

__all__ = ["DEFAULT_KEEP", "DEFAULT_MAX_PROJECT_BYTES", "CacheSave", "save"]

log = logging.getLogger(__package__)  # one logger for the whole cache

DEFAULT_KEEP = 5
DEFAULT_MAX_PROJECT_BYTES = 2 * 1024**3
# A cache is saved and restored on every build and must not slow it down: level 1
# by default; node_modules and a generator's venv (thousands of small files, restored
# on the hot path of a warm build) are stored without compression -- a third of their
# restore time was gunzip -- at the cost of ~3x the bytes in the store.
_COMPRESSLEVEL = {"node_modules": 0, "venv": 0}

# Not worth keeping in a cache: npm's debug logs hold command lines, and the
# update-notifier stamp only makes npm check the registry less often.
_EXCLUDES = {
    "npm-cache": ("_logs", "_update-notifier-last-checked"),
    # Framework caches inside node_modules are parts of their own (restored after install).
    "node_modules": (".cache", ".astro"),
}


@dataclass(frozen=True)
class CacheSave:
    """What `save` did: `saved` names and packed `bytes`, evicted entry keys in `deleted`."""

    key: str
    saved: bool
    names: tuple[str, ...] = ()
    bytes: int = 0
    duration_s: float = 0.0
    deleted: tuple[str, ...] = ()
    reason: str | None = None


def save(
    store: ObjectStore,
    key: str,
    sources: Mapping[str, Path],
    *,
    restored: CacheRestore | None = None,
    keep: int = DEFAULT_KEEP,
    max_project_bytes: int = DEFAULT_MAX_PROJECT_BYTES,
    scratch: Path | None = None,
) -> CacheSave:
    """Store the directories in `sources` as the entry for `key`, then prune the project.

    Missing or empty directories are left out. `restored` is this build's `restore`
    result: after an exact hit, the save is skipped when the trees are still the ones
    the entry holds. Otherwise (a miss, a fallback, a clean build, a refused entry)
    the entry is written anew. Never raises: the result's `reason` says what failed.
    """
    started = time.monotonic()

    def result(**fields: Any) -> CacheSave:
        return CacheSave(key=key, duration_s=round(time.monotonic() - started, 3), **fields)

    try:
        project, entry_name = split_key(key)
        present: dict[str, tuple[Path, str]] = {}
        for name, directory in sorted(sources.items()):
            path = Path(directory)
            # SECURITY: packing follows no symlink, but a build may have made the
            # directory itself (or a parent) a link to files it should never see again.
            if not path.is_dir() or not is_direct_path(path):
                continue
            exclude = _EXCLUDES.get(name, ())
            fingerprint, files = tree_fingerprint(path, exclude)
            if files:
                present[name] = (path, fingerprint)
        if not present:
            return result(saved=False, reason="nothing to cache (the directories are empty)")
        if restored is not None and restored.exact and restored.source_key == key:
            try:
                previous = read_entry(store, key)
            except ValueError:
                previous = None  # an unreadable sidecar is simply replaced
            if previous is not None and {n: p.fingerprint for n, p in previous.parts.items()} == {
                n: fp for n, (_, fp) in present.items()
            }:
                return result(saved=False, reason="unchanged since the cache was restored")
        save_id = uuid.uuid4().hex[:12]
        parts: dict[str, Part] = {}
        with tempfile.TemporaryDirectory(prefix="build-cache-", dir=scratch) as tmp:
            for name, (path, fingerprint) in present.items():
                label = part_label(name)
                archive = Path(tmp) / f"{label}.tar.gz"
                pack_directory(
                    path,
                    archive,
                    exclude=_EXCLUDES.get(name, ()),
                    compresslevel=_COMPRESSLEVEL.get(name, 1),
                )
                object_key = f"{CACHE_PREFIX}/{project}/{entry_name}/{save_id}/{label}.tar.gz"
                store.put_file(object_key, archive, "application/gzip")
                parts[name] = Part(object_key, archive.stat().st_size, fingerprint)
                archive.unlink()
        entry = Entry(
            key=key,
            created=time.time(),
            bytes=sum(p.bytes for p in parts.values()),
            parts=parts,
        )
        # Written last: until now the entry does not exist for `restore`.
        store.put_bytes(entry_object_key(key), sidecar_json(entry), "application/json")
        deleted, prune_note = prune(store, project, keep, max_project_bytes)
        return result(
            saved=True,
            names=tuple(parts),
            bytes=entry.bytes,
            deleted=deleted,
            reason=prune_note,
        )
    except Exception as exc:  # noqa: BLE001 - a broken cache never fails a build
        log.warning("build cache: save of %s failed: %s", key, exc)
        return result(saved=False, reason=f"save failed: {exc}")
