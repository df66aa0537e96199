"""A generator build: tools, virtualenv (cached), build, output; in the same sandbox.

Steps, each timed into the result's metadata like a Node build's:

1. Tools: Hugo's binary for `HUGO_VERSION` (`hugo`), the Python interpreter
   (`python_env`), both outside the sandbox (the platform downloads, verifies
   and caches them).
2. Cache: the virtualenv of the last build with exactly this requirements.txt
   and Python minor (`cache.keys.python_cache_key`) is restored and moved into
   place (`python_env.relocate`); then nothing is installed. Otherwise a fresh
   virtualenv is made and pip installs into it from pip's cache (restored from
   the exact entry, else the project's newest with the same Python minor), as
   Node builds restore the package store and not an old node_modules.
3. Install and build run as untrusted code in the sandbox, with the virtualenv
   and Hugo first on PATH. pip reaches the package index through the build's
   network like npm does; the machine's pip configuration files are not read
   (`PIP_CONFIG_FILE=/dev/null`: they may name directories the sandbox cannot
   see), the operator's `PIP_INDEX_URL`/`PIP_CERT` pass through
   (`sandbox.NETWORK_ENV_NAMES`).
4. The virtualenv and pip's cache are saved unless they came from an exact hit.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

from deploy_platform.build import bwrap, sandbox
from deploy_platform.build.cache.keys import python_cache_key
from deploy_platform.build.cache.restore import CacheRestore, restore
from deploy_platform.build.cache.save import save
from deploy_platform.build.detect import BuildPlan
from deploy_platform.build.generators.detect import GeneratorPlan
from deploy_platform.build.generators.hugo import hugo_request, provision_hugo
from deploy_platform.build.generators.python_env import (
    Interpreter,
    choose_python,
    installed_pythons,
    prepare_for_save,
    relocate,
    requested_python,
)
from deploy_platform.build.output import (
    files_text,
    find_output,
    output_metadata,
    output_warnings,
)
from deploy_platform.build.steps import (
    Boundary,
    BuildRequest,
    BuildResult,
    Log,
    OutputLimits,
    Steps,
    check_output,
    open_isolation,
)
from deploy_platform.storage import ObjectStore

__all__ = ["run_generator_build", "PIP_ENV"]


#: pip as a build runs it: no prompts, no self-update check, plain output, no machine config.
PIP_ENV = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "PIP_PROGRESS_BAR": "off",
    "PYTHONUNBUFFERED": "1",
}


def _venv(interpreter: Interpreter, venv: Path) -> list[str]:
    argv = [str(interpreter.path), "-m", "venv"]
    return [*argv, "--without-pip", str(venv)] if interpreter.pip_wheel else [*argv, str(venv)]


def _pip_install(interpreter: Interpreter, venv: Path, generator: GeneratorPlan) -> list[str]:
    pip = [f"{interpreter.pip_wheel}/pip"] if interpreter.pip_wheel else ["-m", "pip"]
    argv = [str(venv / "bin" / "python"), *pip, "install"]
    if generator.requirements is not None:
        return [*argv, "-r", generator.requirements.name]
    return [*argv, *generator.default_packages]


def _describe(restored: CacheRestore, clean: bool) -> str:
    if clean:
        return "cache: clean build, nothing restored"
    if not restored.hit:
        return f"cache: miss ({restored.reason or 'no entry yet'})"
    kind = "exact" if restored.exact else f"fallback from {restored.source_key}"
    return f"cache: {kind} hit, restored {', '.join(restored.restored)} ({restored.bytes} bytes)"


def run_generator_build(
    plan: BuildPlan,
    generator: GeneratorPlan,
    request: BuildRequest,
    *,
    store: ObjectStore,
    tool_cache: Path,
    limits: sandbox.Limits,
    output_limits: OutputLimits,
    log: Log,
    output: Log,
    started: float,
) -> BuildResult:
    """Build `plan` (a generator's, from `detect_generator`); see the module docstring."""
    settings = request.settings
    source_dir = plan.source_dir
    timings: dict[str, float] = {}
    tools: dict[str, Any] = {}
    path_dirs: list[Path] = []
    mark = time.monotonic()
    if generator.name == "hugo":
        version, hugo_bin = provision_hugo(tool_cache, hugo_request(plan.env), log)
        path_dirs.append(hugo_bin)
        tools["hugo_version"] = version
        log(f"Hugo {version}")
    interpreter: Interpreter | None = None
    if generator.needs_python:
        asked = requested_python(plan.env, plan.app_dir, source_dir)
        interpreter, note = choose_python(asked, installed_pythons())
        tools["python_version"] = interpreter.version
        log(note)
    timings["toolchain_s"] = time.monotonic() - mark
    for warning in generator.warnings:
        log(f"warning: {warning}")
    status = open_isolation(log, output)
    secrets = [*request.secrets, *plan.secret_values()]
    install_dir = plan.install_dir or plan.app_dir
    key: str | None = None
    restored: CacheRestore | None = None
    skip_install = False
    tail = ""
    install_text: str | None = None

    with tempfile.TemporaryDirectory(prefix="dp-home-") as home_dir:
        home = Path(home_dir)
        venv = home / "venv"
        pip_cache = home / ".cache" / "pip"
        if interpreter is not None:
            path_dirs.insert(0, venv / "bin")
        ca_files = bwrap.files_named_in(sandbox.network_env(os.environ))
        env = sandbox.base_env(home, path_dirs)
        env.update(sandbox.network_env(os.environ))
        env.update(PIP_ENV)
        if interpreter is not None:
            env["VIRTUAL_ENV"] = str(venv)
            env["PIP_CACHE_DIR"] = str(pip_cache)
        env.update(plan.env)
        boundary = Boundary(status, (source_dir, home), (tool_cache, *ca_files))
        steps = Steps(boundary, env, limits, secrets, output, log)

        mark = time.monotonic()
        if interpreter is not None:
            key = python_cache_key(
                request.project, plan.app_dir, interpreter.minor, generator.default_packages
            )
            # The virtualenv only from this exact requirements.txt's entry: one made for other
            # requirements would keep packages they no longer list. Otherwise pip's cache
            # (the exact entry's, else the newest of the project), so pip downloads little.
            restored = restore(store, key, {"venv": venv}, fallback=False, clean=settings.clean)
            skip_install = restored.exact and "venv" in restored.restored
            if skip_install:
                relocate(venv, interpreter)
            else:
                restored = restore(store, key, {"pip-cache": pip_cache}, clean=settings.clean)
            log(_describe(restored, settings.clean))
        timings["cache_restore_s"] = time.monotonic() - mark

        mark = time.monotonic()
        if interpreter is not None:
            pip = _pip_install(interpreter, venv, generator)
            # What it means, for the UI: the real argv names this build's temporary HOME.
            install_text = shlex.join(["pip", *pip[pip.index("install") :]])
            if skip_install:
                log(
                    "install: skipped, the virtualenv restored from the cache for this exact "
                    "requirements.txt"
                )
            else:
                steps.run("venv", _venv(interpreter, venv), home)
                steps.run("install", pip, plan.app_dir)
        if plan.install_command is not None:
            steps.run("install", plan.install_command, install_dir)
            install_text = shlex.join(plan.install_command)
        timings["install_s"] = time.monotonic() - mark

        mark = time.monotonic()
        if plan.build_command is not None:
            tail = steps.run("build", plan.build_command, plan.app_dir).tail
        timings["build_s"] = time.monotonic() - mark

        mark = time.monotonic()
        if key is not None and restored is not None:
            if skip_install:
                log("cache: kept as it is (nothing was installed)")
            else:
                prepare_for_save(venv)
                saved = save(store, key, {"venv": venv, "pip-cache": pip_cache}, restored=restored)
                log(
                    f"cache: saved {saved.bytes} bytes" if saved.saved else f"cache: {saved.reason}"
                )
        timings["cache_save_s"] = time.monotonic() - mark

    out_dir = find_output(plan)
    stats = check_output(out_dir, output_limits)
    where = out_dir.relative_to(source_dir).as_posix()
    log(f"output: {where}/ ({files_text(stats.files)})")
    found = output_warnings(out_dir, where, log)
    hit = "miss"
    if restored is not None and restored.hit:
        hit = "exact" if restored.exact else "fallback"
    metadata: dict[str, Any] = {
        **plan.to_metadata(),
        **generator.to_metadata(),
        **tools,
        "install_command": install_text,
        "cache_key": key,
        "cache_hit": hit if key is not None else None,
        "install_skipped": skip_install,
        "clean_build": settings.clean,
        "build_isolation": "on" if status.isolated else status.describe(),
        **output_metadata(out_dir, source_dir, stats.files, stats.bytes),
        **{name: round(value, 3) for name, value in timings.items()},
    }
    return BuildResult(
        output_dir=out_dir,
        framework=plan.framework,
        install_command=install_text,
        build_command=shlex.join(plan.build_command) if plan.build_command else None,
        log_tail=tail,
        duration_s=time.monotonic() - started,
        metadata=metadata,
        routing=dict(plan.routing),
        warnings=(*generator.warnings, *found),
    )
