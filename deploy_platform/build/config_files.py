"""Reading a repository's own build configuration: package.json, vercel.json, netlify.toml.

Only the settings that map onto ours are taken (output directory, commands, base
directory, framework, build variables); routing rules (rewrites, redirects,
headers) are kept raw for the publisher. A file that cannot be parsed fails the
build with the file's path and the parser's message, because silently ignoring
it would publish something other than what the author configured.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy_platform.build.settings import check_relative_path, env_name_problem
from deploy_platform.contracts.errors import BuildFailed

__all__ = [
    "MAX_CONFIG_BYTES",
    "read_text",
    "first_value",
    "read_head",
    "read_json_object",
    "RepoConfig",
    "read_vercel_json",
    "read_netlify_toml",
    "VERCEL_ROUTING_KEYS",
]

#: Larger configuration files are refused (they are read whole into memory).
MAX_CONFIG_BYTES = 4 * 1024 * 1024

#: vercel.json keys kept raw in `BuildPlan.routing["vercel"]` for the publisher.
VERCEL_ROUTING_KEYS = ("rewrites", "redirects", "headers", "cleanUrls", "trailingSlash", "routes")


def _display(path: Path, source_dir: Path) -> str:
    try:
        return path.relative_to(source_dir).as_posix()
    except ValueError:
        return path.name


def _check_inside(path: Path, source_dir: Path) -> None:
    # SECURITY: a symlinked config file must not make us read (and quote) a file outside.
    if not path.resolve().is_relative_to(source_dir.resolve()):
        shown = _display(path, source_dir)
        raise BuildFailed(f"{shown} is a symlink leading outside the repository; replace it")


def read_text(path: Path, source_dir: Path, max_bytes: int = MAX_CONFIG_BYTES) -> str | None:
    """The file's text, or None if it is absent; refuses files leading out of the source."""
    if not path.is_file():
        return None
    shown = _display(path, source_dir)
    _check_inside(path, source_dir)
    if path.stat().st_size > max_bytes:
        raise BuildFailed(f"{shown} is larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BuildFailed(f"{shown} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def read_head(path: Path, source_dir: Path, size: int = 64 * 1024) -> str | None:
    """The first `size` bytes as text, to sniff lockfiles (which can be huge); None if absent."""
    if not path.is_file():
        return None
    _check_inside(path, source_dir)
    with path.open("rb") as handle:
        return handle.read(size).decode("utf-8", errors="replace")


def read_json_object(
    path: Path, source_dir: Path, max_bytes: int = MAX_CONFIG_BYTES
) -> dict[str, Any] | None:
    """A JSON file whose top level must be an object; None if absent; BuildFailed if malformed."""
    text = read_text(path, source_dir, max_bytes)
    if text is None:
        return None
    shown = _display(path, source_dir)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BuildFailed(
            f"{shown} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(data, dict):
        raise BuildFailed(f"{shown} must hold a JSON object ({{...}}), not {type(data).__name__}")
    return data


@dataclass(frozen=True)
class RepoConfig:
    """What one of vercel.json / netlify.toml says, in our terms (None = not said)."""

    file: str
    build_command: str | None = None
    install_command: str | None = None
    output_directory: str | None = None
    base_directory: str | None = None
    # Vercel's framework slug; `framework_set` tells "framework": null apart from absent.
    framework: str | None = None
    framework_set: bool = False
    env: dict[str, str] = field(default_factory=dict)
    routing: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _optional_str(data: dict[str, Any], key: str, shown: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BuildFailed(f"{shown}: {key} must be a string, not {type(value).__name__}")


def _optional_path(data: dict[str, Any], key: str, shown: str) -> str | None:
    value = _optional_str(data, key, shown)
    if value is None:
        return None
    try:
        return check_relative_path(value, f"{shown}: {key}")
    except ValueError as exc:
        raise BuildFailed(str(exc)) from exc


def _build_env(raw: object, shown: str, where: str) -> tuple[dict[str, str], list[str]]:
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        raise BuildFailed(f"{shown}: {where} must be a table of names to strings")
    env: dict[str, str] = {}
    notes: list[str] = []
    for name, value in raw.items():
        problem = env_name_problem(str(name))
        if problem:
            notes.append(f"{shown}: build variable {name} ignored: {problem}")
        elif isinstance(value, str | int | float | bool):
            env[str(name)] = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            raise BuildFailed(f"{shown}: {where}.{name} must be a string")
    return env, notes


def read_vercel_json(directory: Path, source_dir: Path) -> RepoConfig | None:
    """vercel.json in `directory` (Vercel reads it from the project's root directory)."""
    path = directory / "vercel.json"
    data = read_json_object(path, source_dir)
    if data is None:
        return None
    shown = _display(path, source_dir)
    build = data.get("build")
    env, notes = _build_env(
        build.get("env") if isinstance(build, dict) else None, shown, "build.env"
    )
    framework_set = "framework" in data
    framework = _optional_str(data, "framework", shown)
    routing = {key: data[key] for key in VERCEL_ROUTING_KEYS if key in data}
    return RepoConfig(
        file=shown,
        build_command=_optional_str(data, "buildCommand", shown),
        install_command=_optional_str(data, "installCommand", shown),
        output_directory=_optional_path(data, "outputDirectory", shown),
        framework=framework,
        framework_set=framework_set,
        env=env,
        routing=routing,
        notes=tuple(notes),
    )


def read_netlify_toml(path: Path, source_dir: Path) -> RepoConfig | None:
    """netlify.toml at `path`: [build] base/publish/command/environment, [[redirects]], [[headers]].

    Netlify resolves `publish` against `base`; the returned output_directory is still
    relative to `base`, the caller joins them.
    """
    text = read_text(path, source_dir)
    if text is None:
        return None
    shown = _display(path, source_dir)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BuildFailed(f"{shown} is not valid TOML: {exc}") from exc
    build = data.get("build", {})
    if not isinstance(build, dict):
        raise BuildFailed(f"{shown}: [build] must be a table")
    env, notes = _build_env(build.get("environment"), shown, "[build.environment]")
    routing: dict[str, Any] = {}
    for key in ("redirects", "headers"):
        if key in data:
            if not isinstance(data[key], list):
                raise BuildFailed(f"{shown}: {key} must be an array of tables ([[{key}]])")
            routing[key] = data[key]
    base = _optional_path(build, "base", shown)
    return RepoConfig(
        file=shown,
        build_command=_optional_str(build, "command", shown),
        output_directory=_optional_path(build, "publish", shown),
        base_directory=None if base == "." else base,
        env=env,
        routing=routing,
        notes=tuple(notes),
    )


def first_value(path: Path, source_dir: Path) -> str | None:
    """The first line of a one-value file (`.nvmrc`, `.python-version`, `runtime.txt`)
    that is not blank or a `#` comment, without its comment; None if there is none."""
    text = read_text(path, source_dir)
    if text is None:
        return None
    for line in text.splitlines():
        value = line.split("#", 1)[0].strip()
        if value:
            return value
    return None
