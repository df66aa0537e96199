"""Per-project build overrides a user may set, validated before anything is queued.

Every field is optional; an unset field leaves the decision to the repository's
own files (`vercel.json`, `netlify.toml`) and then to detection (see `detect`).

Conventions, following Vercel's and Netlify's project settings:

- `install_command` / `build_command` are shell command lines (run as
  `sh -c <command>`); an empty string means "skip this step".
- `root_directory` and `output_directory` are relative POSIX paths that stay
  inside the repository (no absolute paths, no `..`); `output_directory` is
  relative to the root directory.
- `node_version` is any npm range or nvm alias (`20`, `>=18.12`, `lts/iron`).
- `package_manager` is `npm`, `pnpm`, `yarn` or `bun`, optionally with a version
  or release line (`pnpm@9.12.0`, `pnpm@9`).
- `env` holds build variables, which may be secrets: show `redacted()`, never
  `to_dict()`. Names that the platform itself sets to run a build
  (`RESERVED_ENV_NAMES`: PATH, HOME, TMPDIR, the shell's start-up files, the
  dynamic loader's `LD_*`, the package managers' cache locations, and the
  platform's own `DP_*` namespace) are refused: a project that overrode them
  would break its toolchain or the build cache, not configure its build.
  NODE_OPTIONS, NODE_ENV, CI, `npm_config_*` (private registries) and the
  framework variables (`VITE_*`, `NEXT_PUBLIC_*`, `PUBLIC_URL`...) are allowed;
  NODE_OPTIONS is merged with flags detection adds, never replaced.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from deploy_platform.build.node_versions import InvalidRange, parse_range
from deploy_platform.contracts.errors import InvalidRequest

__all__ = [
    "BuildSettings",
    "RESERVED_ENV_NAMES",
    "RESERVED_ENV_PREFIXES",
    "SETTING_NAMES",
    "PACKAGE_MANAGERS",
    "parse_package_manager",
    "check_relative_path",
    "env_name_problem",
]

#: Names the platform sets for every build (see the module docstring for why).
RESERVED_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "PWD",
        "OLDPWD",
        "SHELL",
        "USER",
        "LOGNAME",
        "TMPDIR",
        "BASH_ENV",
        "ENV",
        "npm_config_cache",
        "npm_config_store_dir",
        "PNPM_HOME",
        "YARN_CACHE_FOLDER",
        "YARN_GLOBAL_FOLDER",
        "BUN_INSTALL",
        "BUN_INSTALL_CACHE_DIR",
        "COREPACK_HOME",
    }
)
RESERVED_ENV_PREFIXES = ("LD_", "DP_")

PACKAGE_MANAGERS = ("npm", "pnpm", "yarn", "bun")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PACKAGE_MANAGER = re.compile(r"^(npm|pnpm|yarn|bun)(?:@(\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?))?$")
_MAX_ENV_VARS = 200
_MAX_ENV_NAME = 256
_MAX_ENV_VALUE = 64 * 1024
_MAX_COMMAND = 4096
_MAX_PATH = 1024


def check_relative_path(value: str, what: str) -> str:
    """Normalize a relative path that must stay inside the repository ("." for the top).

    Raises ValueError saying what to fix for absolute paths, `..`, backslashes, NUL bytes.
    """
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL byte")
    if "\\" in value:
        raise ValueError(f"{what} must use '/' between directories, not '\\'")
    if len(value) > _MAX_PATH:
        raise ValueError(f"{what} is longer than {_MAX_PATH} characters")
    path = PurePosixPath(value.strip())
    if path.is_absolute():
        raise ValueError(f"{what} must be relative to the repository, not absolute ({value!r})")
    if ".." in path.parts:
        raise ValueError(f"{what} must stay inside the repository: remove '..' from {value!r}")
    return path.as_posix()


def parse_package_manager(value: str) -> tuple[str, str | None]:
    """`pnpm@9.12.0` → ("pnpm", "9.12.0"); `yarn` → ("yarn", None); ValueError otherwise."""
    match = _PACKAGE_MANAGER.match(value.strip())
    if not match:
        raise ValueError(
            f"{value!r} is not a package manager: use npm, pnpm, yarn or bun, optionally "
            "with a version such as pnpm@9.12.0 or pnpm@9"
        )
    return match.group(1), match.group(2)


def _string(data: dict[str, Any], name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(
            f"build.{name} must be a string or null, not {type(value).__name__}",
            field=f"build.{name}",
        )
    if "\x00" in value:
        raise InvalidRequest(f"build.{name} contains a NUL byte", field=f"build.{name}")
    if len(value) > limit:
        raise InvalidRequest(
            f"build.{name} is longer than {limit} characters", field=f"build.{name}"
        )
    return value


def _path(data: dict[str, Any], name: str) -> str | None:
    value = _string(data, name, _MAX_PATH)
    if value is None:
        return None
    if not value.strip():
        raise InvalidRequest(
            f"build.{name} is empty: give a directory such as 'apps/web', or leave it unset",
            field=f"build.{name}",
        )
    try:
        return check_relative_path(value, f"build.{name}")
    except ValueError as exc:
        raise InvalidRequest(str(exc), field=f"build.{name}") from exc


def env_name_problem(name: str) -> str | None:
    """Why `name` cannot be a build variable, or None when it can."""
    if not _ENV_NAME.match(name) or len(name) > _MAX_ENV_NAME:
        return "use letters, digits and '_', not starting with a digit"
    lowered = name.lower()
    reserved = {n.lower() for n in RESERVED_ENV_NAMES if n.startswith(("npm_", "NPM_"))}
    if name in RESERVED_ENV_NAMES or lowered in reserved:
        return "the platform sets it for every build"
    if name.startswith(RESERVED_ENV_PREFIXES):
        return f"names starting with {' or '.join(RESERVED_ENV_PREFIXES)} are the platform's"
    return None


def _env(data: dict[str, Any]) -> dict[str, str]:
    value = data.get("env")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(
            'build.env must be an object of names to strings, like {"VITE_API": "https://..."}',
            field="build.env",
        )
    if len(value) > _MAX_ENV_VARS:
        raise InvalidRequest(
            f"build.env has {len(value)} variables; at most {_MAX_ENV_VARS} are allowed",
            field="build.env",
        )
    env: dict[str, str] = {}
    for name, text in value.items():
        problem = env_name_problem(name)
        if problem:
            raise InvalidRequest(
                f"build.env: {name!r} cannot be a build variable: {problem}",
                field=f"build.env.{name}",
            )
        if not isinstance(text, str):
            # No value is echoed: it may be a secret.
            raise InvalidRequest(
                f"build.env.{name} must be a string, not {type(text).__name__}",
                field=f"build.env.{name}",
            )
        if "\x00" in text or len(text) > _MAX_ENV_VALUE:
            raise InvalidRequest(
                f"build.env.{name} must be at most {_MAX_ENV_VALUE} characters without NUL bytes",
                field=f"build.env.{name}",
            )
        env[name] = text
    return env


@dataclass(frozen=True)
class BuildSettings:
    """A project's build overrides; `None` means "not set: detect it"."""

    root_directory: str | None = None
    install_command: str | None = None
    build_command: str | None = None
    output_directory: str | None = None
    node_version: str | None = None
    package_manager: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Skipped `_redirects` / `_headers` lines fail the deployment instead of being warnings.
    strict_rules: bool = False
    clean: bool = False

    @classmethod
    def from_dict(cls, data: object) -> BuildSettings:
        """Validate JSON input (the API's `build` object); InvalidRequest names the field."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InvalidRequest(
                'build must be an object such as {"build_command": "npm run build"}',
                field="build",
            )
        unknown = sorted(str(key) for key in data if key not in SETTING_NAMES)
        if unknown:
            raise InvalidRequest(
                f"unknown build setting {unknown[0]!r}; known settings: {', '.join(SETTING_NAMES)}",
                field=f"build.{unknown[0]}",
            )
        root = _path(data, "root_directory")
        node_version = _string(data, "node_version", 256)
        if node_version is not None:
            try:
                parse_range(node_version)
            except InvalidRange as exc:
                raise InvalidRequest(
                    f"build.node_version: {exc}; use a version or range such as 20, 20.11.1, "
                    ">=18.12 or lts/*",
                    field="build.node_version",
                ) from exc
        package_manager = _string(data, "package_manager", 64)
        if package_manager is not None:
            try:
                name, version = parse_package_manager(package_manager)
            except ValueError as exc:
                raise InvalidRequest(
                    f"build.package_manager: {exc}", field="build.package_manager"
                ) from exc
            package_manager = name if version is None else f"{name}@{version}"
        clean = data.get("clean", False)
        if not isinstance(clean, bool):
            raise InvalidRequest("build.clean must be true or false", field="build.clean")
        strict_rules = data.get("strict_rules", False)
        if not isinstance(strict_rules, bool):
            raise InvalidRequest(
                "build.strict_rules must be true or false", field="build.strict_rules"
            )
        return cls(
            root_directory=None if root == "." else root,
            install_command=_string(data, "install_command", _MAX_COMMAND),
            build_command=_string(data, "build_command", _MAX_COMMAND),
            output_directory=_path(data, "output_directory"),
            node_version=node_version.strip() if node_version is not None else None,
            package_manager=package_manager,
            env=_env(data),
            strict_rules=strict_rules,
            clean=clean,
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything, secrets included: for storage, never for display (the fields in
        their order, `env` a copy)."""
        return dataclasses.asdict(self)

    def redacted(self) -> dict[str, Any]:
        """`to_dict()` with every build variable's value shown as "***"."""
        data = self.to_dict()
        data["env"] = {name: "***" for name in self.env}
        return data


#: The settings' names, in the order they are shown; a project keeps all but `clean`.
SETTING_NAMES = tuple(setting.name for setting in dataclasses.fields(BuildSettings))
