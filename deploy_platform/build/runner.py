"""A real build: detect, provision Node and the package manager, restore the cache,
install, build, save the cache, find and check the output.

Each step's time goes into the result's metadata, so the Dagster UI shows where a
build spent its time. Install and build run in the sandbox (`sandbox.py`) with a
clean environment: only `base_env`, the package manager's cache location and the
project's own build variables; the platform's credentials never reach them.
Behind the isolation boundary they can write only the work directory and their
HOME and read the toolchain; how (or that they are not isolated) is the first
line of the build's log and the `build_isolation` metadata.

Caching (see `cache/`): before install the package manager's store and the
project's `node_modules` are restored; an exact hit (same lockfile, package
manager, its version and Node major) restores `node_modules` as it was after the
last install, and the install is skipped (the package store is then not even
downloaded, and the entry is kept as it is) -- what makes the second build of an
unchanged app fast. Framework caches (`node_modules/.cache`, `.next/cache`, ...)
are restored after install, since `npm ci` removes `node_modules`. A clean build
restores nothing and saves afresh. The key covers package.json's dependencies
too, since a lockfile can be out of date with them.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deploy_platform.build import bwrap, sandbox
from deploy_platform.build.cache.keys import cache_key
from deploy_platform.build.cache.locations import (
    package_manager_cache_dirs,
    package_manager_cache_env,
)
from deploy_platform.build.cache.restore import CacheRestore, restore
from deploy_platform.build.cache.save import save
from deploy_platform.build.detect import BuildPlan, detect
from deploy_platform.build.generators import detect_generator, run_generator_build
from deploy_platform.build.node_versions import resolve_node_version
from deploy_platform.build.output import (
    files_text,
    find_output,
    output_metadata,
    output_warnings,
)
from deploy_platform.build.steps import (
    DEFAULT_OUTPUT_LIMITS,
    BuildRequest,
    BuildResult,
    Log,
    OutputLimits,
)
from deploy_platform.build.steps import Boundary as _Boundary
from deploy_platform.build.steps import Steps as _Steps
from deploy_platform.build.steps import check_output as _check_output
from deploy_platform.build.steps import open_isolation as _isolation
from deploy_platform.build.toolchain import available_node_versions, provision
from deploy_platform.contracts.progress import Progress, no_progress
from deploy_platform.contracts.text_format import human_bytes
from deploy_platform.storage import ObjectStore

__all__ = ["BuildRequest", "BuildResult", "run_build", "OutputLimits"]


def _command_text(argv: Sequence[str] | None) -> str | None:
    return shlex.join(argv) if argv else None


def _static(
    plan: BuildPlan, started: float, log: Log, limits: OutputLimits, progress: Progress
) -> BuildResult:
    output = find_output(plan)
    stats = _check_output(output, limits)
    where = output.relative_to(plan.source_dir).as_posix()
    line = f"static site: publishing {'the repository root' if where == '.' else where + '/'}"
    log(line)
    warnings = output_warnings(output, where, log)
    progress("output", f"{line} ({files_text(stats.files)}, {human_bytes(stats.bytes)})")
    return BuildResult(
        output_dir=output,
        framework=plan.framework,
        install_command=None,
        build_command=None,
        log_tail=line,
        duration_s=time.monotonic() - started,
        metadata={**plan.to_metadata(), "output_files": stats.files, "output_bytes": stats.bytes},
        routing=plan.routing,
        warnings=(*plan.warnings, *warnings),
    )


def run_build(
    source_dir: Path,
    request: BuildRequest,
    *,
    store: ObjectStore,
    tool_cache: Path,
    limits: sandbox.Limits,
    output_limits: OutputLimits = DEFAULT_OUTPUT_LIMITS,
    log: Log,
    output: Log,
    progress: Progress = no_progress,
) -> BuildResult:
    """Build `source_dir` in place. `log` gets milestones, `output` every line the build
    prints, `progress` the milestones a person watches live (contracts/progress.py)."""
    started = time.monotonic()
    settings = request.settings
    plan = detect(source_dir, settings)
    # Hugo, MkDocs, Sphinx, Pelican (no package.json): their own tools and steps.
    generator = detect_generator(plan)
    if generator is not None:
        plan = generator[0]
    progress("detect", f"detected {plan.framework}")
    for note in plan.notes:
        log(note)
    for warning in plan.warnings:
        log(f"warning: {warning}")
    if generator is not None:
        return run_generator_build(
            plan,
            generator[1],
            request,
            store=store,
            tool_cache=tool_cache,
            limits=limits,
            output_limits=output_limits,
            log=log,
            output=output,
            started=started,
        )
    if plan.build_command is None and plan.install_command is None:
        return _static(plan, started, log, output_limits, progress)

    manager = plan.package_manager if plan.package_manager != "none" else "npm"
    timings: dict[str, float] = {}
    mark = time.monotonic()
    node_version = resolve_node_version(plan.node_constraints, available_node_versions(tool_cache))
    toolchain = provision(
        tool_cache,
        node_version,
        manager,
        plan.package_manager_version,
        log=log,
        progress=progress,
    )
    timings["toolchain_s"] = time.monotonic() - mark
    tools = (
        f"node {toolchain.node_version}, {toolchain.package_manager} "
        f"{toolchain.package_manager_version}"
    )
    log(tools)
    progress("toolchain", f"{tools} ready ({timings['toolchain_s']:.1f} s)")
    secrets = [*request.secrets, *plan.secret_values()]
    install_dir = plan.install_dir or plan.app_dir
    status = _isolation(log, output)

    with tempfile.TemporaryDirectory(prefix="dp-home-") as home_dir:
        home = Path(home_dir)
        # The work directory and HOME are all a build may write; the toolchain it reads.
        # The CA files of the machine's registry settings, never of the project's
        # variables: those could name any file of the platform's.
        ca_files = bwrap.files_named_in(sandbox.network_env(os.environ))
        env = sandbox.base_env(home, [toolchain.bin_dir])
        env.update(sandbox.network_env(os.environ))
        env.update(package_manager_cache_env(manager, home))
        env.update(plan.build_env(toolchain.node_version))
        boundary = _Boundary(status, (source_dir, home), (tool_cache, *ca_files))
        steps = _Steps(boundary, env, limits, secrets, output, log, progress)
        dirs = package_manager_cache_dirs(manager, home, plan.app_dir)
        stores = {name: path for name, path in dirs.items() if path.is_relative_to(home)}
        frameworks = {name: path for name, path in dirs.items() if name not in stores}
        key = cache_key(
            request.project,
            install_dir,
            manager,
            toolchain.package_manager_version,
            toolchain.node_version,
            manifests=(plan.app_dir / "package.json",),
        )
        modules = {"node_modules": install_dir / "node_modules"}
        before_install = {**stores, **modules}

        mark = time.monotonic()
        progress("cache-restore", "restoring the build cache")
        # node_modules as the last install left it, for exactly this lockfile: then there
        # is nothing to install, and the package store need not come down at all.
        restored = restore(store, key, modules, fallback=False, clean=settings.clean)
        skip_install = restored.exact and "node_modules" in restored.restored
        if not skip_install:
            restored = restore(store, key, before_install, clean=settings.clean)
        timings["cache_restore_s"] = time.monotonic() - mark
        log(_describe_restore(restored, settings.clean))
        progress(
            "cache-restore",
            _restore_milestone(restored, settings.clean, timings["cache_restore_s"]),
        )
        mark = time.monotonic()
        if plan.install_command is None:
            log("install: skipped (no install command)")
        elif skip_install:
            log("install: skipped, node_modules restored from the cache for this exact lockfile")
            progress("install", "install skipped: node_modules restored for this exact lockfile")
        else:
            steps.run("install", plan.install_command, install_dir)
        timings["install_s"] = time.monotonic() - mark
        if frameworks and not settings.clean:
            restore(store, key, frameworks)

        mark = time.monotonic()
        tail = ""
        if plan.build_command is not None:
            result = steps.run("build", plan.build_command, plan.app_dir)
            tail = result.tail
        timings["build_s"] = time.monotonic() - mark

        mark = time.monotonic()
        if skip_install:
            # The entry already holds this lockfile's install; saving without the store
            # (not restored) would only lose it.
            log("cache: kept as it is (nothing was installed)")
            progress("cache-save", "cache kept as it is (nothing was installed)")
        else:
            progress("cache-save", "saving the build cache")
            saved = save(store, key, {**before_install, **frameworks}, restored=restored)
            log(f"cache: {'saved ' + str(saved.bytes) + ' bytes' if saved.saved else saved.reason}")
            progress(
                "cache-save",
                f"cache saved ({human_bytes(saved.bytes)} in {saved.duration_s:.1f} s)"
                if saved.saved
                else f"cache not saved: {saved.reason}",
            )
        timings["cache_save_s"] = time.monotonic() - mark

    out_dir = find_output(plan)
    stats = _check_output(out_dir, output_limits)
    where = out_dir.relative_to(source_dir).as_posix()
    log(f"output: {where}/ ({files_text(stats.files)})")
    warnings = output_warnings(out_dir, where, log)
    progress("output", f"output: {where}/ ({files_text(stats.files)}, {human_bytes(stats.bytes)})")
    metadata: dict[str, Any] = {
        **plan.to_metadata(),
        "node_version": toolchain.node_version,
        "package_manager_version": toolchain.package_manager_version,
        "cache_key": key,
        "cache_hit": "exact" if restored.exact else ("fallback" if restored.hit else "miss"),
        "install_skipped": skip_install,
        "clean_build": settings.clean,
        "build_isolation": "on" if status.isolated else status.describe(),
        **output_metadata(out_dir, source_dir, stats.files, stats.bytes),
        **{name: round(value, 3) for name, value in timings.items()},
    }
    return BuildResult(
        output_dir=out_dir,
        framework=plan.framework,
        install_command=_command_text(plan.install_command),
        build_command=_command_text(plan.build_command),
        log_tail=tail,
        duration_s=time.monotonic() - started,
        metadata=metadata,
        routing=_publish_routing(plan),
        warnings=(*plan.warnings, *warnings),
    )


def _publish_routing(plan: BuildPlan) -> dict[str, Any]:
    """The rules publishing needs: the repository's routing config, plus the sub-path a
    CRA `homepage` built the app for, so the site is mounted where its assets point."""
    if plan.base_path:
        return {**plan.routing, "base_path": plan.base_path}
    return dict(plan.routing)


def _restore_milestone(restored: CacheRestore, clean: bool, seconds: float) -> str:
    if clean:
        return "clean build: the cache is not restored"
    if not restored.hit:
        return f"cache miss ({restored.reason or 'no entry yet'}; {seconds:.1f} s)"
    kind = "exact" if restored.exact else "fallback"
    return (
        f"cache {kind} hit: {', '.join(restored.restored)} restored "
        f"({human_bytes(restored.bytes)} in {seconds:.1f} s)"
    )


def _describe_restore(restored: CacheRestore, clean: bool) -> str:
    if clean:
        return "cache: clean build, nothing restored"
    if not restored.hit:
        return f"cache: miss ({restored.reason or 'no entry yet'})"
    kind = "exact" if restored.exact else f"fallback from {restored.source_key}"
    return f"cache: {kind} hit, restored {', '.join(restored.restored)} ({restored.bytes} bytes)"
