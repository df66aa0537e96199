"""Which cache entry a build wants: `<project>/<entry>`, named for its tools and lockfiles."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from deploy_platform.contracts.names import validate_project_name

__all__ = [
    "CACHE_PREFIX",
    "LOCKFILES",
    "PACKAGE_MANAGERS",
    "cache_key",
    "python_cache_key",
    "entry_object_key",
    "entry_prefix",
    "is_entry_name",
    "split_key",
]

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

_KEY_FORMAT = b"deploy-platform build cache v2"
# What in a package.json decides what gets installed (scripts, name, version do not).
_MANIFEST_FIELDS = (
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
    "overrides",
    "resolutions",
    "pnpm",
    "workspaces",
)
_VERSION_UNSAFE = re.compile(r"[^0-9A-Za-z.]+")
# `<pm><version>-node<major>-<hash>` (Node builds) or `pip-py<major.minor>-<hash>` (a
# generator's virtualenv, `python_cache_key`).
_ENTRY_RE = re.compile(r"^[a-z-]+[0-9A-Za-z._]*-(?:node[0-9a-z]+|py[0-9]+\.[0-9]+)-[0-9a-f]{24}$")
_NODE_MAJOR = re.compile(r"^v?(\d+)")


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


def _manifest_bytes(path: Path) -> bytes:
    """The dependency fields of a package.json, canonical; the whole file if it is not JSON."""
    if not path.is_file():
        return b""
    data = path.read_bytes()
    try:
        manifest = json.loads(data)
    except ValueError:
        return data
    if not isinstance(manifest, dict):
        return data
    wanted = {key: manifest[key] for key in _MANIFEST_FIELDS if key in manifest}
    return json.dumps(wanted, sort_keys=True).encode()


def _dependency_digest(app_dir: Path, manifests: Sequence[Path]) -> str:
    digest = hashlib.sha256(_KEY_FORMAT)
    for name in LOCKFILES:
        path = app_dir / name
        if path.is_file():
            data = path.read_bytes()
            digest.update(f"\0{name}\0{len(data)}\0".encode())
            digest.update(data)
    # package.json too: with a lockfile out of date with it, the install follows
    # package.json, and an exact hit must not restore what an older package.json got.
    for path in dict.fromkeys([app_dir / "package.json", *manifests]):
        data = _manifest_bytes(path)
        digest.update(f"\0package.json\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:24]


def cache_key(
    project: str,
    app_dir: Path,
    package_manager: str,
    pm_version: str | None,
    node_version: str,
    *,
    manifests: Sequence[Path] = (),
) -> str:
    """`<project>/<entry>` for the dependencies in `app_dir` (where install runs).

    The entry changes with any lockfile's bytes, the dependency fields of the
    package.json in `app_dir` and of `manifests` (a workspace member's), the package
    manager, its version and the Node major version.
    """
    validate_project_name(project)
    prefix = _environment_prefix(package_manager, pm_version, node_version)
    digest = _dependency_digest(Path(app_dir), [Path(path) for path in manifests])
    return f"{project}/{prefix}{digest}"


def python_cache_key(
    project: str, app_dir: Path, python_minor: str, default_packages: tuple[str, ...] = ()
) -> str:
    """`<project>/pip-py<major.minor>-<hash>` for a virtualenv made in `app_dir`.

    The entry changes with requirements.txt's bytes (or, without one, the packages
    installed in its place) and the Python minor version: a virtualenv only runs on
    the minor it was made with.
    """
    validate_project_name(project)
    if not re.fullmatch(r"[0-9]+\.[0-9]+", python_minor):
        raise ValueError(f"{python_minor!r} is not a Python major.minor such as 3.11")
    digest = hashlib.sha256(_KEY_FORMAT + b" venv")
    requirements = Path(app_dir) / "requirements.txt"
    data = requirements.read_bytes() if requirements.is_file() else b""
    digest.update(f"\0requirements.txt\0{len(data)}\0".encode())
    digest.update(data)
    digest.update("\0".join(default_packages).encode())
    return f"{project}/pip-py{python_minor}-{digest.hexdigest()[:24]}"


def split_key(key: str) -> tuple[str, str]:
    """(project, entry name) of a `cache_key`; ValueError for anything else."""
    project, _, entry = key.partition("/")
    validate_project_name(project)
    if not is_entry_name(entry):
        raise ValueError(f"{key!r} is not a build cache key (use cache_key())")
    return project, entry


def entry_object_key(key: str) -> str:
    """The sidecar object of the entry for `key`: `cache/<project>/<entry>.json`."""
    project, entry = split_key(key)
    return f"{CACHE_PREFIX}/{project}/{entry}.json"


def entry_prefix(entry: str) -> str:
    """The entry name up to (and with) the hyphen before the lockfile hash."""
    return entry[:-24]


def is_entry_name(name: str) -> bool:
    """`name` has the shape of an entry name (`<pm><version>-node<major>-<hash>`)."""
    return _ENTRY_RE.match(name) is not None
