"""From a checked-out repository and the project's settings to a `BuildPlan`.

Nothing here runs anything: it reads files and decides what the toolchain,
sandbox and runner will do. Each decision is appended to `BuildPlan.notes`,
which goes to the Dagster UI as metadata.

Precedence, for every setting: the project's settings (`BuildSettings`), then
the repository's `vercel.json`, then its `netlify.toml`, then detection.

- Root directory: the setting, else `[build] base` of a netlify.toml at the
  repository root. vercel.json is read from the root directory (as Vercel
  does), netlify.toml from the root directory, else the repository root.
- Commands are argv lists. A command given as text (project setting,
  vercel.json, netlify.toml) is a shell command line and becomes
  `["sh", "-c", text]`; an empty text skips the step.
- Output candidates are relative to `app_dir`; the runner publishes the first
  that holds an index.html, else the first that exists (see
  `deploy_platform.build.output.find_output`). As on Cloudflare Pages, a site
  without an index.html is still published, with a warning.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy_platform.build.config_files import (
    RepoConfig,
    first_value,
    read_json_object,
    read_netlify_toml,
    read_vercel_json,
)
from deploy_platform.build.frameworks import VERCEL_FRAMEWORKS, detect_framework
from deploy_platform.build.lockfile_sync import install_for
from deploy_platform.build.node_versions import InvalidRange, parse_range, parse_version
from deploy_platform.build.package_managers import (
    choose_package_manager,
    exec_argv,
    node_minimum,
    run_script_argv,
)
from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import BuildFailed

__all__ = ["BuildPlan", "detect", "LEGACY_OPENSSL_FLAG"]

LEGACY_OPENSSL_FLAG = "--openssl-legacy-provider"


@dataclass(frozen=True)
class BuildPlan:
    """What to install, build and publish, and why (`notes`)."""

    framework: str
    source_dir: Path
    app_dir: Path
    package_manager: str  # "none", "npm", "pnpm", "yarn", "bun"
    # An exact version or a release line ("9" = newest 9.x); None: the npm bundled with Node.
    package_manager_version: str | None
    yarn_berry: bool
    install_command: list[str] | None
    build_command: list[str] | None
    output_candidates: list[str]
    # Build variables: the repository's files' and the project's (project wins).
    env: dict[str, str]
    # (where it came from, npm range), every one of which the chosen Node must satisfy.
    node_constraints: list[tuple[str, str]]
    notes: list[str]
    # Raw routing rules for the publisher: {"vercel": {...}, "netlify": {...}}.
    routing: dict[str, Any] = field(default_factory=dict)
    # Where install runs (always set by detect): the lockfile's directory (a workspace
    # root) or app_dir.
    install_dir: Path | None = None
    lockfile: Path | None = None
    # Add --openssl-legacy-provider to NODE_OPTIONS on Node >= 17 (webpack 4).
    legacy_openssl: bool = False
    # The sub-path the site was built for (CRA `homepage`), for the publisher to mount it at.
    base_path: str | None = None
    # Appended to the runner's "no output directory" error.
    output_hint: str | None = None
    # Names in `env` whose values are the project's secrets (redacted in metadata and logs).
    secret_env_names: tuple[str, ...] = ()
    # Problems worked around (a lockfile out of date, several lockfiles), one line each.
    warnings: tuple[str, ...] = ()

    def build_env(self, node_version: str) -> dict[str, str]:
        """`env` for a build on `node_version`, with the flags detection asked for."""
        env = dict(self.env)
        if self.legacy_openssl and parse_version(node_version).major >= 17:
            current = env.get("NODE_OPTIONS", "")
            if LEGACY_OPENSSL_FLAG not in current.split():
                env["NODE_OPTIONS"] = f"{current} {LEGACY_OPENSSL_FLAG}".strip()
        return env

    def secret_values(self) -> list[str]:
        """Values to redact from build logs."""
        return [self.env[name] for name in self.secret_env_names if self.env.get(name)]

    def to_metadata(self) -> dict[str, Any]:
        """JSON-able summary for the Dagster UI; secret values shown as ***."""
        manager = self.package_manager
        if self.package_manager_version:
            manager = f"{manager} {self.package_manager_version}"
        return {
            "framework": self.framework,
            "root_directory": self.app_dir.relative_to(self.source_dir).as_posix(),
            "package_manager": manager + (" (berry)" if self.yarn_berry else ""),
            "install_command": shlex.join(self.install_command) if self.install_command else None,
            "build_command": shlex.join(self.build_command) if self.build_command else None,
            "output_candidates": list(self.output_candidates),
            "node_constraints": [f"{source}: {text}" for source, text in self.node_constraints],
            "env": {
                name: "***" if name in self.secret_env_names else value
                for name, value in self.env.items()
            },
            "notes": list(self.notes),
        }


def _shell(text: str) -> list[str] | None:
    return ["sh", "-c", text] if text.strip() else None


def _app_dir(
    source_dir: Path, settings: BuildSettings, root_netlify: RepoConfig | None
) -> tuple[Path, list[str]]:
    if settings.root_directory is not None:
        relative, origin = settings.root_directory, "the project setting"
    elif root_netlify is not None and root_netlify.base_directory is not None:
        relative, origin = root_netlify.base_directory, f"base in {root_netlify.file}"
    else:
        return source_dir, []
    app_dir = source_dir / relative
    # SECURITY: a symlinked root directory could lead the build out of the checkout.
    if not app_dir.resolve().is_relative_to(source_dir.resolve()):
        raise BuildFailed(f"root directory {relative!r} ({origin}) leads outside the repository")
    if not app_dir.is_dir():
        raise BuildFailed(
            f"root directory {relative!r} ({origin}) is not a directory in the repository: "
            "check the spelling, or clear the setting to build the repository root"
        )
    return app_dir, [f"root directory {relative}/ from {origin}"]


def _command(
    name: str,
    setting: str | None,
    files: list[RepoConfig],
    attribute: str,
    detected: list[str] | None,
    why: str,
    notes: list[str],
) -> list[str] | None:
    """The first of: setting, the files (in order), detection; noting which one won."""
    sources: list[tuple[str | None, str]] = [(setting, "the project setting")]
    sources += [(getattr(config, attribute), config.file) for config in files]
    for text, origin in sources:
        if text is not None:
            argv = _shell(text)
            notes.append(
                f"{name} command {text!r} from {origin}"
                if argv
                else f"{name} step skipped: empty {name} command in {origin}"
            )
            return argv
    if detected is not None:
        notes.append(f"{name} command {shlex.join(detected)} ({why})")
    return detected


def _node_constraints(
    app_dir: Path,
    source_dir: Path,
    settings: BuildSettings,
    manifest: dict[str, Any] | None,
    manager: str,
    manager_version: str | None,
) -> list[tuple[str, str]]:
    constraints: list[tuple[str, str]] = []
    if settings.node_version is not None:
        constraints.append(("the project setting build.node_version", settings.node_version))
    engines = manifest.get("engines") if manifest else None
    if isinstance(engines, dict) and "node" in engines:
        shown = (app_dir / "package.json").relative_to(source_dir).as_posix()
        if not isinstance(engines["node"], str):
            raise BuildFailed(f'engines.node in {shown} must be a range string such as ">=18"')
        constraints.append((f"engines.node in {shown}", engines["node"]))
    for filename in (".nvmrc", ".node-version"):
        directory = app_dir
        while True:
            value = first_value(directory / filename, source_dir)
            if value is not None:
                shown = (directory / filename).relative_to(source_dir).as_posix()
                constraints.append((shown, value))
                break
            if directory == source_dir:
                break
            directory = directory.parent
    for source, text in constraints:
        try:
            parse_range(text)
        except InvalidRange as exc:
            raise BuildFailed(
                f"Node version in {source} is not usable: {exc}. Use a version or range such "
                "as 20, 20.11.1, >=18.12 or lts/*"
            ) from exc
    minimum = node_minimum(manager, manager_version)
    if minimum is not None:
        constraints.append((f"{manager} {manager_version} (its own engines.node)", minimum))
    return constraints


def _routing(configs: list[RepoConfig]) -> dict[str, Any]:
    routing: dict[str, Any] = {}
    for config in configs:
        if config.routing:
            key = "vercel" if config.file.endswith("vercel.json") else "netlify"
            routing[key] = config.routing
    return routing


def _outputs(
    settings: BuildSettings,
    vercel: RepoConfig | None,
    netlify: RepoConfig | None,
    netlify_base: Path | None,
    app_dir: Path,
    detected: list[str],
    notes: list[str],
) -> list[str]:
    if settings.output_directory is not None:
        notes.append(f"output {settings.output_directory}/ from the project setting")
        return [settings.output_directory]
    if vercel is not None and vercel.output_directory is not None:
        notes.append(f"output {vercel.output_directory}/ from outputDirectory in {vercel.file}")
        return [vercel.output_directory]
    if netlify is not None and netlify.output_directory is not None and netlify_base is not None:
        # Netlify resolves publish against its base; ours are relative to the app directory.
        target = (netlify_base / netlify.output_directory).resolve()
        if target.is_relative_to(app_dir.resolve()):
            output = target.relative_to(app_dir.resolve()).as_posix() or "."
            notes.append(f"output {output}/ from publish in {netlify.file}")
            return [output]
        notes.append(f"publish in {netlify.file} is outside the root directory: ignored")
    notes.append("output: the first of " + ", ".join(f"{d}/" for d in detected) + " with a site")
    return detected


def detect(source_dir: Path, settings: BuildSettings) -> BuildPlan:
    """Decide how to build the repository checked out at `source_dir`."""
    source_dir = source_dir.resolve()
    root_netlify = read_netlify_toml(source_dir / "netlify.toml", source_dir)
    app_dir, notes = _app_dir(source_dir, settings, root_netlify)
    vercel = read_vercel_json(app_dir, source_dir)
    netlify = (
        read_netlify_toml(app_dir / "netlify.toml", source_dir) if app_dir != source_dir else None
    )
    netlify_base = app_dir
    if netlify is None and root_netlify is not None:
        netlify = root_netlify
        netlify_base = source_dir / (root_netlify.base_directory or ".")
    configs = [c for c in (vercel, netlify) if c is not None]
    for config in configs:
        notes.extend(config.notes)
    manifest = read_json_object(app_dir / "package.json", source_dir)

    env: dict[str, str] = {}
    for config in reversed(configs):  # netlify, then vercel, then the project: last wins
        env.update(config.env)
    env.update(settings.env)

    forced: str | None = None
    forced_by: str | None = None
    if vercel is not None and vercel.framework_set:
        if vercel.framework is None:
            forced, forced_by = "other", f'{vercel.file} ("framework": null)'
        elif vercel.framework in VERCEL_FRAMEWORKS:
            forced, forced_by = VERCEL_FRAMEWORKS[vercel.framework], vercel.file
        else:
            notes.append(f"framework {vercel.framework!r} in {vercel.file} unknown here: detecting")
    overridden_build = settings.build_command is not None or any(
        c.build_command is not None for c in configs
    )
    facts = detect_framework(
        app_dir, source_dir, manifest, forced, forced_by, env, overridden_build
    )
    notes.extend(facts.notes)

    if manifest is not None:
        choice = choose_package_manager(app_dir, source_dir, settings.package_manager)
        notes.extend(choice.notes)
        manager, version, berry = choice.name, choice.version, choice.yarn_berry
        lockfile, install_dir = choice.lockfile, choice.install_dir
        scripts = manifest.get("scripts")
        has_script = isinstance(scripts, dict) and isinstance(scripts.get("build"), str)
        detected_build: list[str] | None = None
        build_why = ""
        if has_script:
            detected_build, build_why = run_script_argv(manager, "build"), "the build script"
        elif facts.cli is not None:
            detected_build = exec_argv(manager, facts.cli)
            build_why = f"no build script: {facts.name}'s own command"
        elif facts.command is not None:
            detected_build, build_why = facts.command, f"{facts.name} is not a dependency"
        installation = install_for(choice, app_dir, source_dir)
        detected_install = installation.argv if detected_build or overridden_build else None
        install_why, lock_warnings = installation.why, installation.warnings
    else:
        manager, version, berry, lockfile, install_dir = "none", None, False, None, app_dir
        detected_install, install_why, lock_warnings = None, "", []
        detected_build, build_why = facts.command, f"{facts.name} without a package.json"
        notes.append("no package.json: nothing to install")
    install = _command(
        "install",
        settings.install_command,
        [c for c in configs if c is vercel],
        "install_command",
        detected_install,
        install_why,
        notes,
    )
    if install is None or install is not detected_install:
        lock_warnings = []  # the project's own install command: not ours to explain
    build = _command(
        "build",
        settings.build_command,
        configs,
        "build_command",
        detected_build,
        build_why,
        notes,
    )
    if build is None and manifest is not None and facts.name not in ("static",):
        notes.append("no build command: publishing the repository's files as they are")

    outputs = _outputs(settings, vercel, netlify, netlify_base, app_dir, facts.outputs, notes)
    constraints = _node_constraints(app_dir, source_dir, settings, manifest, manager, version)
    if constraints:
        notes.append("Node must satisfy: " + "; ".join(f"{s} {t!r}" for s, t in constraints))
    else:
        notes.append("no Node version asked for: the newest LTS")
    return BuildPlan(
        framework=facts.name,
        source_dir=source_dir,
        app_dir=app_dir,
        package_manager=manager,
        package_manager_version=version,
        yarn_berry=berry,
        install_command=install,
        build_command=build,
        output_candidates=outputs,
        env=env,
        node_constraints=constraints,
        notes=notes,
        routing=_routing(configs),
        install_dir=install_dir,
        lockfile=lockfile,
        legacy_openssl=facts.legacy_openssl,
        base_path=facts.base_path,
        output_hint=facts.output_hint,
        secret_env_names=tuple(settings.env),
        warnings=tuple(lock_warnings),
    )
