"""The build cache: package-manager stores and framework caches kept in the object store.

Layout, per project (the project is the cache's isolation boundary):

  cache/<project>/<entry>.json                    the entry's sidecar, written LAST
  cache/<project>/<entry>/<save-id>/<part>.tar.gz one gzip tar per cached directory

An entry name reads `<pm><pm-version>-node<major>-<lockfile hash>`, for example
`pnpm9.12.0-node20-3f2a...`; `cache_key` returns `<project>/<entry>`. The package
manager, its version and the Node major are part of the name so that an upgrade
never restores a store the new tools cannot read.

Why one tar per directory rather than one tar for all: `pack_directory` and
`safe_extract` then work on each directory as they are (no nesting, no second copy
on disk), a caller restores just the names it asks for (the package store before
install, framework caches after it, since `npm ci` deletes `node_modules`), and one
part that is refused does not hide how big the others are. The sidecar names the
parts of one save (a fresh save id each time), so two builds saving the same key at
once never mix their parts: the last sidecar wins and the other parts become
orphans that the next prune deletes. Like the deployment manifest, the sidecar is
written last: an entry without one does not exist.

The sidecar (JSON) holds `created` (Unix time, used to pick the newest entry), the
parts with their object keys, sizes and fingerprints, and the total packed bytes.

Fallback: when the exact key has no entry, `restore` takes the newest entry of the
same project with the same package manager, version and Node major (the same entry
name up to the lockfile hash). A lockfile change usually keeps most packages, so the
install still finds nearly everything in the store.

Saving: skipped after an exact hit when the trees are still the ones the entry
holds (same names, paths, types, link targets and contents -- see `_fingerprint`);
otherwise the parts and then the sidecar are written, and the project is pruned to its newest
`keep` entries within `max_project_bytes` (the newest entry always stays).

SECURITY: an entry was written by earlier builds of the user's code, so it is as
untrusted as a source upload. Every part is unpacked with `safe_extract` (no
escaping names or links, no devices, byte and file caps), the sidecar is parsed
strictly (only object keys under the entry's own prefix), and a refused entry is
wiped from the targets before anything else is tried. Entries are scoped to one
project; within a project a preview build can still write what production later
restores, which the package managers tolerate (they verify package integrity
against the lockfile) but framework caches do not verify.

Nothing here fails a build: `restore` and `save` catch every error, log it, and
return a result that says why nothing (or less) was done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy_platform.contracts.names import validate_project_name
from deploy_platform.source.archive.unpack import empty_directory, pack_directory, safe_extract
from deploy_platform.storage import ObjectNotFound, ObjectStore, ObjectStoreError, check_key

__all__ = [
    "CACHE_PREFIX",
    "LOCKFILES",
    "FRAMEWORK_CACHE_DIRS",
    "PACKAGE_MANAGERS",
    "DEFAULT_KEEP",
    "DEFAULT_MAX_PROJECT_BYTES",
    "DEFAULT_MAX_RESTORE_BYTES",
    "DEFAULT_MAX_RESTORE_FILES",
    "CacheRestore",
    "CacheSave",
    "cache_key",
    "entry_object_key",
    "restore",
    "save",
    "package_manager_cache_dirs",
    "package_manager_cache_env",
]

log = logging.getLogger(__name__)

CACHE_PREFIX = "cache"
# Every lockfile is hashed when several are present: any of them changing may change
# what gets installed.
LOCKFILES = (
    "package-lock.json",
    "npm-shrinkwrap.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lock",
    "bun.lockb",
)
PACKAGE_MANAGERS = ("npm", "pnpm", "yarn", "bun")
# Framework caches inside the app directory, restored AFTER install (`npm ci` removes
# node_modules first). `.svelte-kit` is left out: `svelte-kit sync` regenerates it on
# every build, so caching it saves nothing.
FRAMEWORK_CACHE_DIRS = (
    "node_modules/.cache",  # webpack/babel/terser (CRA, Docusaurus, Nuxt, Gatsby plugins)
    ".next/cache",  # Next.js images and webpack/turbopack caches
    "node_modules/.astro",  # Astro 3+ (assets, content layer)
    ".astro",  # Astro 2 and earlier
)
DEFAULT_KEEP = 5
DEFAULT_MAX_PROJECT_BYTES = 2 * 1024**3
DEFAULT_MAX_RESTORE_BYTES = 5 * 1024**3
DEFAULT_MAX_RESTORE_FILES = 1_000_000

_SIDECAR_VERSION = 1
_KEY_FORMAT = b"deploy-platform build cache v1"
_VERSION_UNSAFE = re.compile(r"[^0-9A-Za-z.]+")
_ENTRY_RE = re.compile(r"^[a-z-]+[0-9A-Za-z._]*-node[0-9a-z]+-[0-9a-f]{24}$")
_NODE_MAJOR = re.compile(r"^v?(\d+)")
# Not worth keeping in a cache: npm's debug logs hold command lines, and the
# update-notifier stamp only makes npm check the registry less often.
# A cache is saved and restored on every build and must not slow it down: level 1
# by default; node_modules (thousands of small files, restored on the hot path of a
# warm build) is stored without compression -- a third of its restore time was
# gunzip -- at the cost of ~3x the bytes in the store.
_COMPRESSLEVEL = {"node_modules": 0}

_EXCLUDES = {
    "npm-cache": ("_logs", "_update-notifier-last-checked"),
    # Framework caches inside node_modules are parts of their own (restored after install).
    "node_modules": (".cache", ".astro"),
}


# -- keys ---------------------------------------------------------------------------


def _node_major(node_version: str) -> str:
    match = _NODE_MAJOR.match(node_version.strip())
    return match.group(1) if match else "x"


def _version_slug(version: str | None) -> str:
    if not version:
        return ""
    return _VERSION_UNSAFE.sub("_", version.strip())[:32]


def _environment_prefix(package_manager: str, pm_version: str | None, node_version: str) -> str:
    """The entry name up to the lockfile hash: what a fallback entry must share."""
    if package_manager not in PACKAGE_MANAGERS:
        raise ValueError(
            f"unknown package manager {package_manager!r}; one of {', '.join(PACKAGE_MANAGERS)}"
        )
    return f"{package_manager}{_version_slug(pm_version)}-node{_node_major(node_version)}-"


def _dependency_digest(app_dir: Path) -> str:
    digest = hashlib.sha256(_KEY_FORMAT)
    found = False
    for name in LOCKFILES:
        path = app_dir / name
        if path.is_file():
            data = path.read_bytes()
            digest.update(f"\0{name}\0{len(data)}\0".encode())
            digest.update(data)
            found = True
    if not found:
        manifest = app_dir / "package.json"
        data = manifest.read_bytes() if manifest.is_file() else b""
        digest.update(f"\0package.json\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:24]


def cache_key(
    project: str,
    app_dir: Path,
    package_manager: str,
    pm_version: str | None,
    node_version: str,
) -> str:
    """`<project>/<entry>` for the dependencies in `app_dir` (where install runs).

    The entry changes with any lockfile's bytes (package.json's when there is no
    lockfile), the package manager, its version and the Node major version.
    """
    validate_project_name(project)
    prefix = _environment_prefix(package_manager, pm_version, node_version)
    return f"{project}/{prefix}{_dependency_digest(Path(app_dir))}"


def _split_key(key: str) -> tuple[str, str]:
    project, _, entry = key.partition("/")
    validate_project_name(project)
    if not _ENTRY_RE.match(entry):
        raise ValueError(f"{key!r} is not a build cache key (use cache_key())")
    return project, entry


def entry_object_key(key: str) -> str:
    """The sidecar object of the entry for `key`: `cache/<project>/<entry>.json`."""
    project, entry = _split_key(key)
    return f"{CACHE_PREFIX}/{project}/{entry}.json"


def _entry_prefix(entry: str) -> str:
    """The entry name up to (and with) the hyphen before the lockfile hash."""
    return entry[:-24]


# -- results ------------------------------------------------------------------------


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


# -- sidecars -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    object_key: str
    bytes: int
    fingerprint: str


@dataclass(frozen=True)
class _Entry:
    key: str
    created: float
    bytes: int
    parts: dict[str, _Part]


def _parse_sidecar(project: str, entry: str, raw: bytes) -> _Entry:
    """A sidecar, strictly: any surprise raises ValueError (the entry is then ignored)."""
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("version") != _SIDECAR_VERSION:
        raise ValueError("unknown sidecar format")
    created = data.get("created")
    parts_data = data.get("parts")
    if not isinstance(created, int | float) or not isinstance(parts_data, dict):
        raise ValueError("sidecar lacks created/parts")
    own_prefix = f"{CACHE_PREFIX}/{project}/{entry}/"
    parts: dict[str, _Part] = {}
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
        parts[name] = _Part(object_key, size, fingerprint)
    return _Entry(
        key=f"{project}/{entry}",
        created=float(created),
        bytes=sum(part.bytes for part in parts.values()),
        parts=parts,
    )


def _sidecar_json(entry: _Entry) -> bytes:
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


def _read_entry(store: ObjectStore, key: str) -> _Entry | None:
    """The entry for `key`, None when it has none; raises when its sidecar is unusable."""
    project, entry = _split_key(key)
    try:
        raw = store.get_bytes(entry_object_key(key))
    except ObjectNotFound:
        return None
    return _parse_sidecar(project, entry, raw)


def _project_entries(store: ObjectStore, project: str, name_prefix: str = "") -> list[_Entry]:
    """Readable entries of `project` whose names start with `name_prefix`, newest first."""
    base = f"{CACHE_PREFIX}/{project}/"
    entries: list[_Entry] = []
    for info in store.list(base + name_prefix):
        rest = info.key[len(base) :]
        if "/" in rest or not rest.endswith(".json"):
            continue
        entry = rest.removesuffix(".json")
        if not _ENTRY_RE.match(entry):
            continue
        try:
            entries.append(_parse_sidecar(project, entry, store.get_bytes(info.key)))
        except (ObjectNotFound, ValueError) as exc:
            log.warning("build cache: ignoring unreadable entry %s: %s", info.key, exc)
    entries.sort(key=lambda e: (e.created, e.key), reverse=True)
    return entries


# -- trees --------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) under root, sorted, with an explicit stack (deep trees)."""
    stack = [("", str(root))]
    while stack:
        prefix, directory = stack.pop()
        with os.scandir(directory) as iterator:
            entries = sorted(iterator, key=lambda e: e.name, reverse=True)
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            rel = f"{prefix}{entry.name}"
            yield rel, st
            if stat.S_ISDIR(st.st_mode):
                stack.append((f"{rel}/", entry.path))


def _fingerprint(root: Path, exclude: tuple[str, ...]) -> tuple[str, int]:
    """(digest, file count) of the tree: names, types, link targets and file contents.

    Reading the contents costs one pass over the tree (far less than packing and
    uploading it), and makes "nothing changed" exact: a framework cache may rewrite a
    file in place at the same size.
    """
    digest = hashlib.sha256()
    files = 0
    for rel, st in _walk(root):
        if any(part in exclude for part in rel.split("/")):
            continue
        if stat.S_ISLNK(st.st_mode):
            line = f"l\0{rel}\0{os.readlink(root / rel)}\n"
            files += 1
        elif stat.S_ISDIR(st.st_mode):
            line = f"d\0{rel}\n"
        else:
            fd = os.open(root / rel, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                content = hashlib.file_digest(handle, "sha256").hexdigest()
            line = f"f\0{rel}\0{st.st_size}\0{content}\n"
            files += 1
        digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest(), files


def _part_label(name: str) -> str:
    """An object-key-safe label for a cache name (`node_modules/.cache` has a slash)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "part"
    return f"{slug[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _is_direct_path(path: Path) -> bool:
    """No symlink anywhere on the way to `path` (nor `path` itself)."""
    absolute = os.path.abspath(path)
    return os.path.realpath(absolute) == absolute


# -- restore ------------------------------------------------------------------------


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
        project, entry_name = _split_key(key)
        notes: list[str] = []
        candidates: list[tuple[_Entry, bool]] = []
        try:
            exact = _read_entry(store, key)
        except ValueError as exc:
            exact = None
            notes.append(f"exact entry unreadable ({exc})")
        if exact is not None:
            candidates.append((exact, True))
        if fallback:
            for other in _project_entries(store, project, _entry_prefix(entry_name)):
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
    entry: _Entry,
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
                if not _is_direct_path(target):
                    # SECURITY: a symlink on the way (the repository's own, say
                    # `.next -> public`) would put the cache somewhere else.
                    skipped.append(f"{name}: {target} leads through a symlink, not restored")
                    continue
                if target.exists() and not _is_empty_dir(target):
                    skipped.append(f"{name}: {target} already exists, kept as is")
                    continue
                archive = Path(tmp) / f"{_part_label(name)}.tar.gz"
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


def _forget(store: ObjectStore, entry: _Entry) -> None:
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


# -- save ---------------------------------------------------------------------------


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
        project, entry_name = _split_key(key)
        present: dict[str, tuple[Path, str]] = {}
        for name, directory in sorted(sources.items()):
            path = Path(directory)
            # SECURITY: packing follows no symlink, but a build may have made the
            # directory itself (or a parent) a link to files it should never see again.
            if not path.is_dir() or not _is_direct_path(path):
                continue
            exclude = _EXCLUDES.get(name, ())
            fingerprint, files = _fingerprint(path, exclude)
            if files:
                present[name] = (path, fingerprint)
        if not present:
            return result(saved=False, reason="nothing to cache (the directories are empty)")
        if restored is not None and restored.exact and restored.source_key == key:
            try:
                previous = _read_entry(store, key)
            except ValueError:
                previous = None  # an unreadable sidecar is simply replaced
            if previous is not None and {n: p.fingerprint for n, p in previous.parts.items()} == {
                n: fp for n, (_, fp) in present.items()
            }:
                return result(saved=False, reason="unchanged since the cache was restored")
        save_id = uuid.uuid4().hex[:12]
        parts: dict[str, _Part] = {}
        with tempfile.TemporaryDirectory(prefix="build-cache-", dir=scratch) as tmp:
            for name, (path, fingerprint) in present.items():
                label = _part_label(name)
                archive = Path(tmp) / f"{label}.tar.gz"
                pack_directory(
                    path,
                    archive,
                    exclude=_EXCLUDES.get(name, ()),
                    compresslevel=_COMPRESSLEVEL.get(name, 1),
                )
                object_key = f"{CACHE_PREFIX}/{project}/{entry_name}/{save_id}/{label}.tar.gz"
                store.put_file(object_key, archive, "application/gzip")
                parts[name] = _Part(object_key, archive.stat().st_size, fingerprint)
                archive.unlink()
        entry = _Entry(
            key=key,
            created=time.time(),
            bytes=sum(p.bytes for p in parts.values()),
            parts=parts,
        )
        # Written last: until now the entry does not exist for `restore`.
        store.put_bytes(entry_object_key(key), _sidecar_json(entry), "application/json")
        deleted, prune_note = _prune(store, project, keep, max_project_bytes)
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


def _prune(
    store: ObjectStore, project: str, keep: int, max_bytes: int
) -> tuple[tuple[str, ...], str | None]:
    """Keep the newest `keep` entries within `max_bytes` (the newest always); delete the rest.

    Also deletes parts no kept sidecar names (crashed saves, replaced saves, unreadable
    sidecars). A save running at the same moment in another build can lose parts it
    has not named yet; its entry then misses once and is saved again.
    """
    try:
        entries = _project_entries(store, project)
        kept: list[_Entry] = []
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


# -- where package managers keep their stores ---------------------------------------


def _store_dirs(package_manager: str, home: Path) -> dict[str, Path]:
    if package_manager == "npm":
        return {"npm-cache": home / ".npm"}
    if package_manager == "pnpm":
        return {"pnpm-store": home / ".pnpm-store"}
    if package_manager == "yarn":
        return {"yarn-cache": home / ".cache" / "yarn"}
    if package_manager == "bun":
        return {"bun-cache": home / ".bun" / "install" / "cache"}
    raise ValueError(
        f"unknown package manager {package_manager!r}; one of {', '.join(PACKAGE_MANAGERS)}"
    )


def package_manager_cache_dirs(package_manager: str, home: Path, app_dir: Path) -> dict[str, Path]:
    """Cache name -> directory: the package manager's store under `home` (when run with
    `package_manager_cache_env(package_manager, home)`) and the framework caches in
    `app_dir` (names from `FRAMEWORK_CACHE_DIRS`; restore those after install)."""
    dirs = _store_dirs(package_manager, Path(home))
    for name in FRAMEWORK_CACHE_DIRS:
        dirs[name] = Path(app_dir) / name
    return dirs


def package_manager_cache_env(package_manager: str, home: Path) -> dict[str, str]:
    """Environment variables that put the package manager's store where
    `package_manager_cache_dirs` says (pass them with HOME=home)."""
    store = _store_dirs(package_manager, Path(home))
    if package_manager == "npm":
        return {"npm_config_cache": str(store["npm-cache"])}
    if package_manager == "pnpm":
        # pnpm reads its settings from npm_config_* variables too.
        return {"npm_config_store_dir": str(store["pnpm-store"])}
    if package_manager == "yarn":
        # Classic reads YARN_CACHE_FOLDER. Berry (2+) only honours it with its global
        # cache off -- Yarn 4 turns that on by default and then ignores the folder --
        # and classic ignores the extra setting, so one set serves both.
        return {
            "YARN_CACHE_FOLDER": str(store["yarn-cache"]),
            "YARN_ENABLE_GLOBAL_CACHE": "false",
        }
    return {"BUN_INSTALL_CACHE_DIR": str(store["bun-cache"])}
