"""Cache entries in the object store: sidecars read strictly, written, listed, pruned."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from deploy_platform.build.cache.keys import (
    CACHE_PREFIX,
    entry_object_key,
    is_entry_name,
    split_key,
)
from deploy_platform.storage import ObjectNotFound, ObjectStore, check_key

__all__ = ["Entry", "Part", "project_entries", "prune", "read_entry", "sidecar_json"]

log = logging.getLogger(__package__)  # one logger for the whole cache

_SIDECAR_VERSION = 1


@dataclass(frozen=True)
class Part:
    """One cached directory's gzip tar: its object, packed size and tree fingerprint."""

    object_key: str
    bytes: int
    fingerprint: str


@dataclass(frozen=True)
class Entry:
    """One save of a key: when, how many packed bytes, and its parts by cache name."""

    key: str
    created: float
    bytes: int
    parts: dict[str, Part]


def parse_sidecar(project: str, entry: str, raw: bytes) -> Entry:
    """A sidecar, strictly: any surprise raises ValueError (the entry is then ignored)."""
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("version") != _SIDECAR_VERSION:
        raise ValueError("unknown sidecar format")
    created = data.get("created")
    parts_data = data.get("parts")
    if not isinstance(created, int | float) or not isinstance(parts_data, dict):
        raise ValueError("sidecar lacks created/parts")
    own_prefix = f"{CACHE_PREFIX}/{project}/{entry}/"
    parts: dict[str, Part] = {}
    for name, part in parts_data.items():
        if not isinstance(name, str) or not isinstance(part, dict):
            raise ValueError("malformed part")
        object_key = part.get("object")
        size = part.get("bytes")
        fingerprint = part.get("fingerprint")
        if (
            not isinstance(object_key, str)
            or not object_key.startswith(own_prefix)
            or not isinstance(size, int)
            or not isinstance(fingerprint, str)
        ):
            raise ValueError(f"malformed part {name!r}")
        check_key(object_key)
        parts[name] = Part(object_key, size, fingerprint)
    return Entry(
        key=f"{project}/{entry}",
        created=float(created),
        bytes=sum(part.bytes for part in parts.values()),
        parts=parts,
    )


def sidecar_json(entry: Entry) -> bytes:
    return json.dumps(
        {
            "version": _SIDECAR_VERSION,
            "key": entry.key,
            "created": entry.created,
            "bytes": entry.bytes,
            "parts": {
                name: {"object": p.object_key, "bytes": p.bytes, "fingerprint": p.fingerprint}
                for name, p in sorted(entry.parts.items())
            },
        },
        indent=1,
    ).encode()


def read_entry(store: ObjectStore, key: str) -> Entry | None:
    """The entry for `key`, None when it has none; raises when its sidecar is unusable."""
    project, entry = split_key(key)
    try:
        raw = store.get_bytes(entry_object_key(key))
    except ObjectNotFound:
        return None
    return parse_sidecar(project, entry, raw)


def project_entries(store: ObjectStore, project: str, name_prefix: str = "") -> list[Entry]:
    """Readable entries of `project` whose names start with `name_prefix`, newest first."""
    base = f"{CACHE_PREFIX}/{project}/"
    entries: list[Entry] = []
    for info in store.list(base + name_prefix):
        rest = info.key[len(base) :]
        if "/" in rest or not rest.endswith(".json"):
            continue
        entry = rest.removesuffix(".json")
        if not is_entry_name(entry):
            continue
        try:
            entries.append(parse_sidecar(project, entry, store.get_bytes(info.key)))
        except (ObjectNotFound, ValueError) as exc:
            log.warning("build cache: ignoring unreadable entry %s: %s", info.key, exc)
    entries.sort(key=lambda e: (e.created, e.key), reverse=True)
    return entries


def prune(
    store: ObjectStore, project: str, keep: int, max_bytes: int
) -> tuple[tuple[str, ...], str | None]:
    """Keep the newest `keep` entries within `max_bytes` (the newest always); delete the rest.

    Also deletes parts no kept sidecar names (crashed saves, replaced saves, unreadable
    sidecars). A save running at the same moment in another build can lose parts it
    has not named yet; its entry then misses once and is saved again.
    """
    try:
        entries = project_entries(store, project)
        kept: list[Entry] = []
        total = 0
        for entry in entries:
            if not kept or (len(kept) < keep and total + entry.bytes <= max_bytes):
                kept.append(entry)
                total += entry.bytes
        evicted = [entry for entry in entries if entry not in kept]
        for entry in evicted:
            # The sidecar first: a half-deleted entry is then already invisible.
            store.delete(entry_object_key(entry.key))
        wanted = {entry_object_key(e.key) for e in kept}
        wanted.update(p.object_key for e in kept for p in e.parts.values())
        for info in list(store.list(f"{CACHE_PREFIX}/{project}/")):
            if info.key not in wanted:
                store.delete(info.key)
        return tuple(entry.key for entry in evicted), None
    except Exception as exc:  # noqa: BLE001 - pruning is housekeeping
        log.warning("build cache: pruning %s failed: %s", project, exc)
        return (), f"pruning failed: {exc}"
