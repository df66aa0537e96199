"""Whether a lockfile still matches the package.json files it was made for.

A lockfile that lags behind package.json (a dependency added, removed or given a
new range without running the install again) makes every frozen install refuse:
`npm ci`, `pnpm install --frozen-lockfile`, `yarn install --frozen-lockfile` and
`--immutable`. Vercel installs npm projects with `npm install` and yarn 1 projects
with `yarn install`, which both bring such a lockfile up to date and build; the
detection uses `lockfile_drift` to do the same (see package_managers.py), and says
so in a warning. We go further than both for pnpm and yarn 2+, which default to a
frozen install in CI (Vercel sets CI=1) and so fail there, and for Cloudflare Pages,
whose build logs show `npm clean-install`, `pnpm install --frozen-lockfile` and
`yarn` (docs/guides/build-settings.md has the table and the reason).
Sources: https://vercel.com/docs/package-managers (install commands),
`runNpmInstall` in vercel/vercel packages/build-utils/src/fs/run-user-scripts.ts,
https://developers.cloudflare.com/pages/configuration/build-image/ (tools only; the
commands are those Pages prints as "Installing project dependencies: ...").

Each check compares what package.json asks for with what the lockfile recorded
of it, the way the package manager itself decides:
- package-lock.json / npm-shrinkwrap.json: the root entry (`packages[""]`, and the
  app's own entry in a workspace) lists the ranges of package.json as they were;
  version 1 lockfiles only list names;
- pnpm-lock.yaml: the importer's `specifier`s (`specifiers` before lockfile 6);
- yarn.lock: an entry `name@range` (berry: `name@npm:range`) for every dependency,
  except local and workspace ones (`workspace:`, `file:`, `link:`, `portal:`,
  `patch:`, and the names of the workspace's own packages), recorded differently.
Anything unreadable counts as "cannot tell" (None): the frozen install then runs
and the package manager reports the problem in its own words. Nothing here fails
a build.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy_platform.build.config_files import read_json_object, read_text
from deploy_platform.build.package_managers import PackageManagerChoice, install_argv
from deploy_platform.contracts.errors import BuildFailed

__all__ = ["DEPENDENCY_FIELDS", "Installation", "install_for", "lockfile_drift"]

#: The package.json sections every manager installs from.
DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "optionalDependencies")
#: Lockfiles are read whole here, so a bound on what is worth reading.
_MAX_LOCKFILE_BYTES = 256 * 1024 * 1024
_LOCAL_PROTOCOLS = ("workspace:", "file:", "link:", "portal:", "patch:")
_SHOWN_DIFFERENCES = 3
_MAX_WORKSPACE_MANIFESTS = 500


@dataclass(frozen=True)
class Installation:
    argv: list[str]
    # Why this command, for the plan's notes.
    why: str
    warnings: list[str]


def _specs(
    manifest: Mapping[str, Any], fields: Iterable[str] = DEPENDENCY_FIELDS
) -> dict[str, str]:
    specs: dict[str, str] = {}
    for key in fields:
        section = manifest.get(key)
        if isinstance(section, dict):
            specs.update({str(k): v for k, v in section.items() if isinstance(v, str)})
    return specs


def _compare(wanted: Mapping[str, str], recorded: Mapping[str, str]) -> list[str]:
    """What differs, one phrase each, in name order."""
    differences = []
    for name in sorted(set(wanted) | set(recorded)):
        if name not in recorded:
            differences.append(f"{name} {wanted[name]} is not in the lockfile")
        elif name not in wanted:
            differences.append(f"{name} is in the lockfile but no longer in package.json")
        elif wanted[name] != recorded[name]:
            differences.append(
                f"{name} is {wanted[name]} in package.json but {recorded[name]} in the lockfile"
            )
    return differences


def _workspace_names(
    install_dir: Path, root: Mapping[str, Any], source_dir: Path
) -> set[str] | None:
    """The names of the workspace's own packages (the root's `workspaces`); None when they
    cannot be listed cheaply and safely (a `**` pattern, too many packages)."""
    declared = root.get("workspaces")
    if isinstance(declared, dict):
        declared = declared.get("packages")
    if not isinstance(declared, list):
        return set()
    names: set[str] = set()
    seen = 0
    for pattern in declared:
        if not isinstance(pattern, str) or pattern.startswith(("/", "!")) or ".." in pattern:
            continue
        if "**" in pattern:
            return None  # a walk of the whole tree (and any symlink loop in it)
        for directory in install_dir.glob(pattern.rstrip("/")):
            seen += 1
            if seen > _MAX_WORKSPACE_MANIFESTS:
                return None
            manifest = read_json_object(directory / "package.json", source_dir)
            if manifest is not None and isinstance(manifest.get("name"), str):
                names.add(manifest["name"])
    return names


def _npm(lock: Mapping[str, Any], manifests: Mapping[str, dict[str, Any]]) -> list[str]:
    packages = lock.get("packages")
    if isinstance(packages, dict):
        differences = []
        for where, manifest in manifests.items():
            entry = packages.get("" if where == "." else where)
            if not isinstance(entry, dict):
                differences.append(f"{where}/package.json has no entry in the lockfile")
                continue
            for key in (*DEPENDENCY_FIELDS, "peerDependencies"):
                differences += _compare(_specs(manifest, (key,)), _specs(entry, (key,)))
        return differences
    # lockfileVersion 1 records resolved versions, not ranges: only names can be compared.
    locked = lock.get("dependencies")
    if not isinstance(locked, dict) or "." not in manifests:
        return []
    return [
        f"{name} {spec} is not in the lockfile"
        for name, spec in sorted(_specs(manifests["."]).items())
        if name not in locked
    ]


def _pnpm_importers(text: str) -> dict[str, Any] | None:
    # The importers come before the (much longer) package list: parse only that part.
    head = re.split(r"^packages:\s*$", text, maxsplit=1, flags=re.MULTILINE)[0]
    document = yaml.load(head, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(document, dict):
        return None
    importers = document.get("importers")
    if isinstance(importers, dict):
        return importers
    if not any(key in document for key in ("specifiers", *DEPENDENCY_FIELDS)):
        return None  # records nothing at all: not a lockfile we can judge
    # A single project before lockfile 9 keeps its importer at the top level.
    return {".": document}


def _pnpm_recorded(importer: Mapping[str, Any]) -> dict[str, str]:
    if isinstance(importer.get("specifiers"), dict):  # lockfile 5.x
        return {str(k): str(v) for k, v in importer["specifiers"].items()}
    recorded: dict[str, str] = {}
    for key in DEPENDENCY_FIELDS:
        section = importer.get(key)
        if isinstance(section, dict):
            for name, entry in section.items():
                if isinstance(entry, dict) and "specifier" in entry:
                    recorded[str(name)] = str(entry["specifier"])
    return recorded


def _pnpm(text: str, manifests: Mapping[str, dict[str, Any]]) -> list[str]:
    importers = _pnpm_importers(text)
    if importers is None:
        return []
    differences = []
    for where, manifest in manifests.items():
        importer = importers.get(where)
        if not isinstance(importer, dict):
            differences.append(f"{where}/package.json has no importer in the lockfile")
            continue
        differences += _compare(_specs(manifest), _pnpm_recorded(importer))
    return differences


def _yarn_descriptors(text: str) -> set[str]:
    """Every `name@range` an entry of yarn.lock answers (both formats)."""
    descriptors: set[str] = set()
    for line in text.splitlines():
        if not line or line[0] in " \t#" or not line.rstrip().endswith(":"):
            continue
        for part in line.rstrip()[:-1].split(","):
            descriptors.add(part.strip().strip('"'))
    descriptors.discard("__metadata")  # berry's header, not an entry
    return descriptors


def _yarn(text: str, manifests: Mapping[str, dict[str, Any]], skip: set[str]) -> list[str]:
    descriptors = _yarn_descriptors(text)
    if not descriptors:
        return []  # no entries at all: not a lockfile we can judge
    differences = []
    for manifest in manifests.values():
        for name, spec in sorted(_specs(manifest).items()):
            if name in skip or spec.startswith(_LOCAL_PROTOCOLS):
                continue
            # Berry writes the default protocol out: "marked@npm:^15.0.0".
            if f"{name}@{spec}" not in descriptors and f"{name}@npm:{spec}" not in descriptors:
                differences.append(f"{name} {spec} is not in the lockfile")
    return differences


def _summary(differences: list[str]) -> str:
    shown = "; ".join(differences[:_SHOWN_DIFFERENCES])
    more = len(differences) - _SHOWN_DIFFERENCES
    return shown + (f"; and {more} more" if more > 0 else "")


def lockfile_drift(
    lockfile: Path, install_dir: Path, app_dir: Path, source_dir: Path
) -> str | None:
    """How `lockfile` (npm, pnpm or yarn) differs from the package.json files of `install_dir`
    and `app_dir` (a workspace member), in a few words; None when it matches or when that
    cannot be told (an unreadable file, bun's lockfile)."""
    try:
        root = read_json_object(install_dir / "package.json", source_dir)
        manifests: dict[str, dict[str, Any]] = {".": root} if root is not None else {}
        if app_dir != install_dir:
            member = read_json_object(app_dir / "package.json", source_dir)
            if member is not None:
                manifests[app_dir.relative_to(install_dir).as_posix()] = member
        if not manifests:
            return None
        name = lockfile.name
        if name in ("package-lock.json", "npm-shrinkwrap.json"):
            lock = read_json_object(lockfile, source_dir, _MAX_LOCKFILE_BYTES)
            differences = _npm(lock, manifests) if lock is not None else []
        elif name in ("pnpm-lock.yaml", "yarn.lock"):
            text = read_text(lockfile, source_dir, _MAX_LOCKFILE_BYTES) or ""
            if name == "pnpm-lock.yaml":
                differences = _pnpm(text, manifests)
            else:
                skip = _workspace_names(install_dir, root or {}, source_dir)
                differences = _yarn(text, manifests, skip) if skip is not None else []
        else:
            return None
    except (BuildFailed, OSError, ValueError, yaml.YAMLError, json.JSONDecodeError):
        return None
    return _summary(differences) if differences else None


def install_for(choice: PackageManagerChoice, app_dir: Path, source_dir: Path) -> Installation:
    """The install command for `choice`, and the warnings about its lockfiles: a frozen
    install, or a plain one (which brings the lockfile up to date) when it is out of date."""
    warnings = list(choice.warnings)
    drift = None
    if choice.lockfile is not None:
        drift = lockfile_drift(choice.lockfile, choice.install_dir, app_dir, source_dir)
    argv = install_argv(choice, frozen=drift is None)
    if choice.lockfile is None:
        return Installation(argv, "no lockfile", warnings)
    if drift is None:
        return Installation(argv, f"lockfile {choice.lockfile.name}", warnings)
    shown = choice.lockfile.relative_to(source_dir).as_posix()
    warnings.append(
        f"{shown} is out of date with package.json ({drift}): installed with "
        f"`{shlex.join(argv)}` instead of `{shlex.join(install_argv(choice))}`; "
        "commit an updated lockfile"
    )
    return Installation(argv, f"lockfile {choice.lockfile.name} is out of date", warnings)
