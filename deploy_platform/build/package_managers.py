"""Which package manager installs a project, at which version, with which command.

Order of authority: the project setting, then the `packageManager` field of the
nearest package.json that has one (what corepack obeys), then the nearest
lockfile (the app directory first, then its parents up to the repository root,
so a workspace's root lockfile is found from `apps/web`), then npm.

Several lockfiles in one directory: Vercel's order decides (yarn.lock, then
pnpm-lock.yaml, then package-lock.json, then bun's; but bun.lock next to a
yarn.lock means bun, which can write a yarn.lock of its own): `scanParentDirs` in
vercel/vercel packages/build-utils/src/fs/run-user-scripts.ts. Cloudflare Pages
does not document its order. The lockfiles left out are named in a warning.

Versions when nothing names one (`package_manager_version`):
- npm: None, meaning the npm bundled with the chosen Node;
- pnpm: the major matching the lockfile format (`lockfileVersion` 9.x → 9,
  6.x → 8, 5.4 → 7, 5.3 → 6), 9 without a lockfile;
- yarn: 1 (classic) or 4 (berry);
- bun: 1.
A bare major such as "9" means the newest release of that line; the toolchain
resolves it.

Install commands never update the lockfile when there is one, as in CI:
`npm ci`, `pnpm install --frozen-lockfile`, `yarn install --frozen-lockfile`
(classic) / `--immutable` (berry), `bun install --frozen-lockfile`. Without a
lockfile, a plain install (pnpm and yarn berry need `--no-frozen-lockfile` /
`--no-immutable` there, since both default to frozen when `CI` is set). The same
plain install runs when the lockfile is out of date with package.json
(`install_argv(choice, frozen=False)`, decided by lockfile_sync.py), with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.build.config_files import read_head, read_json_object
from deploy_platform.build.settings import parse_package_manager
from deploy_platform.contracts.errors import BuildFailed

__all__ = [
    "LOCKFILES",
    "NODE_MINIMUM",
    "PackageManagerChoice",
    "choose_package_manager",
    "install_argv",
    "run_script_argv",
    "exec_argv",
    "node_minimum",
]

#: Lockfile → manager, in the order they win within one directory (Vercel's, see above;
#: `_preferred` adds its one exception, bun.lock beside yarn.lock).
LOCKFILES: tuple[tuple[str, str], ...] = (
    ("yarn.lock", "yarn"),
    ("pnpm-lock.yaml", "pnpm"),
    ("npm-shrinkwrap.json", "npm"),
    ("package-lock.json", "npm"),
    ("bun.lock", "bun"),
    ("bun.lockb", "bun"),
)

#: The `engines.node` of each manager's release line, checked with `npm view <pkg>@<major>
#: engines` (pnpm, @yarnpkg/cli-dist for berry, npm) when this was written. Lines not
#: listed (yarn 1, bun, pnpm < 7) add no constraint.
NODE_MINIMUM: dict[tuple[str, int], str] = {
    ("pnpm", 7): ">=14.6",
    ("pnpm", 8): ">=16.14",
    ("pnpm", 9): ">=18.12",
    ("pnpm", 10): ">=18.12",
    ("pnpm", 11): ">=22.13",
    ("yarn", 2): ">=12 <14 || 14.2 - 14.9 || >14.10.0",
    ("yarn", 3): ">=12 <14 || 14.2 - 14.9 || >14.10.0",
    ("yarn", 4): ">=18.12.0",
    ("npm", 9): "^14.17.0 || ^16.13.0 || >=18.0.0",
    ("npm", 10): "^18.17.0 || >=20.5.0",
    ("npm", 11): "^20.17.0 || >=22.9.0",
}

_DEFAULT_VERSION = {"pnpm": "9", "bun": "1"}


@dataclass(frozen=True)
class PackageManagerChoice:
    name: str
    version: str | None
    yarn_berry: bool
    lockfile: Path | None
    # Where install runs: the lockfile's directory (a workspace root), else the app.
    install_dir: Path
    notes: tuple[str, ...]
    # Lockfiles that were left out (several managers' lockfiles), one line each.
    warnings: tuple[str, ...] = ()


def _shown(path: Path, source_dir: Path) -> str:
    return path.relative_to(source_dir).as_posix() or "."


def _search_dirs(app_dir: Path, source_dir: Path) -> list[Path]:
    dirs = [app_dir]
    while dirs[-1] != source_dir and source_dir in dirs[-1].parents:
        dirs.append(dirs[-1].parent)
    return dirs


def _package_manager_field(
    dirs: Sequence[Path], source_dir: Path
) -> tuple[str, str | None, Path] | None:
    for directory in dirs:
        manifest = read_json_object(directory / "package.json", source_dir)
        if manifest is None or "packageManager" not in manifest:
            continue
        shown = _shown(directory / "package.json", source_dir)
        value = manifest["packageManager"]
        # Corepack's form is name@version with an optional +sha... integrity suffix.
        text = value.split("+", 1)[0] if isinstance(value, str) else None
        try:
            if text is None:
                raise ValueError("not a string")
            name, version = parse_package_manager(text)
            if version is None:
                # Corepack refuses a bare name too; the field exists to pin a version.
                raise ValueError(f"{text!r} names no version")
        except ValueError as exc:
            raise BuildFailed(
                f'packageManager in {shown} must look like "pnpm@9.12.0" (npm, pnpm, yarn or '
                f"bun with a version): {exc}"
            ) from exc
        return name, version, directory
    return None


def _lockfiles(dirs: Sequence[Path]) -> list[tuple[Path, str]]:
    found = []
    for directory in dirs:
        for filename, manager in LOCKFILES:
            path = directory / filename
            if path.is_file():
                found.append((path, manager))
    return found


def _pnpm_version_for_lockfile(lockfile: Path, source_dir: Path) -> tuple[str, str]:
    text = read_head(lockfile, source_dir) or ""
    match = re.search(r"^lockfileVersion:\s*['\"]?(\d+)(?:\.(\d+))?", text, re.MULTILINE)
    if not match:
        return "9", "no lockfileVersion found"
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    if major >= 9:
        version = "9"
    elif major >= 6:
        version = "8"
    elif (major, minor) >= (5, 4):
        version = "7"
    else:
        version = "6"
    return version, f"lockfileVersion {match.group(1)}.{minor}"


def _is_berry(
    version: str | None, install_dir: Path, lockfile: Path | None, source_dir: Path
) -> tuple[bool, str]:
    if version is not None:
        return int(version.split(".")[0]) >= 2, f"yarn {version}"
    if (install_dir / ".yarnrc.yml").is_file():
        return True, ".yarnrc.yml"
    if lockfile is not None and lockfile.name == "yarn.lock":
        # Berry's lockfile is YAML with a __metadata block; classic's has none.
        if "__metadata:" in (read_head(lockfile, source_dir) or ""):
            return True, "yarn.lock in the berry format"
    return False, "no .yarnrc.yml and a classic yarn.lock" if lockfile else "no .yarnrc.yml"


def _preferred(lockfiles: Sequence[tuple[Path, str]]) -> tuple[Path, str, str]:
    """The lockfile that names the manager, and why: the nearest directory's, in LOCKFILES
    order, except that bun's lockfile beside a yarn.lock wins (bun may write both)."""
    nearest = [entry for entry in lockfiles if entry[0].parent == lockfiles[0][0].parent]
    managers = {manager for _, manager in nearest}
    if len(managers) == 1:
        return nearest[0][0], nearest[0][1], ""
    if {"bun", "yarn"} <= managers:
        path = next(path for path, manager in nearest if manager == "bun")
        return path, "bun", f"{path.name} beside yarn.lock means bun (bun writes a yarn.lock too)"
    path, manager = nearest[0]
    beaten = ", ".join(other.name for other, kind in nearest if kind != manager)
    return path, manager, f"{path.name} wins over {beaten} (Vercel's order: yarn, pnpm, npm, bun)"


def _lockfile_warnings(
    name: str,
    lockfile: Path | None,
    others: Sequence[Path],
    source: str,
    reason: str,
    source_dir: Path,
) -> list[str]:
    """Lockfiles left out: beside the one used (`reason` why), or all of them when the manager
    named by `source` (the setting, a packageManager field) has none."""
    if not others:
        return []
    if lockfile is None:
        shown = ", ".join(_shown(path, source_dir) for path in others)
        return [
            f"{shown} ignored: {source} names {name}, which has no lockfile here, so dependency "
            f"versions were resolved afresh; commit a {name} lockfile or delete {shown}"
        ]
    files = sorted([lockfile, *others], key=lambda path: path.name)
    count = "two" if len(files) == 2 else str(len(files))
    listed = ", ".join(_shown(path, source_dir) for path in files)
    return [
        f"{count} lockfiles ({listed}): used {name} because {reason}; delete the lockfile of the "
        "package manager the project does not use"
    ]


def choose_package_manager(
    app_dir: Path, source_dir: Path, setting: str | None
) -> PackageManagerChoice:
    """Decide the manager for the app at `app_dir` (which has a package.json)."""
    dirs = _search_dirs(app_dir, source_dir)
    notes: list[str] = []
    lockfiles = _lockfiles(dirs)
    field = _package_manager_field(dirs, source_dir)
    origin_dir: Path | None = None
    preferred: Path | None = None
    if setting is not None:
        name, version = parse_package_manager(setting)
        notes.append(f"package manager {setting} from the project setting")
        source = "the project setting"
    elif field is not None:
        name, version, origin_dir = field
        pinned = f"{name}@{version}" if version else name
        shown = _shown(origin_dir / "package.json", source_dir)
        notes.append(f"package manager {pinned} from packageManager in {shown}")
        source = f"packageManager in {shown}"
    elif lockfiles:
        preferred, name, reason = _preferred(lockfiles)
        version, source = None, ""
        notes.append(f"package manager {name} from {_shown(preferred, source_dir)}")
    else:
        name, version, source = "npm", None, ""
        notes.append("package manager npm: no lockfile and no packageManager field")
    own = [path for path, manager in lockfiles if manager == name]
    lockfile = preferred or (own[0] if own else None)
    others: list[Path] = []
    for path, manager in lockfiles:
        if manager != name and (lockfile is None or path.parent == lockfile.parent):
            notes.append(f"{_shown(path, source_dir)} ignored: the project uses {name}")
            others.append(path)
    if preferred is None:
        reason = f"{source} names it"
    warnings = _lockfile_warnings(name, lockfile, others, source, reason, source_dir)
    if lockfile is None:
        notes.append(f"no {name} lockfile: dependency versions are resolved afresh")
    install_dir = lockfile.parent if lockfile else origin_dir or app_dir
    berry = False
    if name == "yarn":
        berry, reason = _is_berry(version, install_dir, lockfile, source_dir)
        notes.append(f"yarn {'berry' if berry else 'classic'} ({reason})")
    if version is None:
        if name == "pnpm" and lockfile is not None:
            version, reason = _pnpm_version_for_lockfile(lockfile, source_dir)
            notes.append(f"pnpm {version} chosen for {reason}")
        elif name == "yarn":
            version = "4" if berry else "1"
        else:
            version = _DEFAULT_VERSION.get(name)
        if version is not None:
            notes.append(f"{name} version not pinned: using the newest {version}.x")
        else:
            notes.append("npm version not pinned: using the npm bundled with Node")
    return PackageManagerChoice(
        name=name,
        version=version,
        yarn_berry=berry,
        lockfile=lockfile,
        install_dir=install_dir,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def install_argv(choice: PackageManagerChoice, *, frozen: bool = True) -> list[str]:
    """The install command: one that never rewrites an existing lockfile, unless `frozen` is
    False (the lockfile is out of date) or there is no lockfile."""
    locked = choice.lockfile is not None and frozen
    if choice.name == "npm":
        return ["npm", "ci"] if locked else ["npm", "install"]
    if choice.name == "pnpm":
        return ["pnpm", "install", "--frozen-lockfile" if locked else "--no-frozen-lockfile"]
    if choice.name == "yarn" and choice.yarn_berry:
        return ["yarn", "install", "--immutable" if locked else "--no-immutable"]
    if choice.name == "yarn":
        return ["yarn", "install", "--frozen-lockfile"] if locked else ["yarn", "install"]
    return ["bun", "install", "--frozen-lockfile"] if locked else ["bun", "install"]


def run_script_argv(manager: str, script: str) -> list[str]:
    """`<manager> run <script>`: the same for all four managers."""
    return [manager, "run", script]


def exec_argv(manager: str, command: Sequence[str]) -> list[str]:
    """Run a binary from the project's node_modules/.bin, never downloading one."""
    if manager == "npm":
        return ["npm", "exec", "--no", "--", *command]
    if manager == "pnpm":
        return ["pnpm", "exec", *command]
    return [manager, "run", *command]


def node_minimum(name: str, version: str | None) -> str | None:
    """The Node range the manager's release line needs, or None when unknown/unconstrained."""
    if version is None:
        return None
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return None
    return NODE_MINIMUM.get((name, major))
