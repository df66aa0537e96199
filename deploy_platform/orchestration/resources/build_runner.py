"""The build step as a resource: source tree in, publishable output tree out.

`BuildRunnerResource` is the interface the `built_artifact` asset declares;
`StaticBuildRunner` serves plain HTML/CSS/JS sites (no build step, no code
run); `NodeBuildRunner` installs and builds behind the build isolation boundary
(`deploy_platform.build.isolation`, set by `DP_BUILD_ISOLATION`). Assets and
tests swap the implementation through `Definitions`, never by patching.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from deploy_platform.build import sandbox
from deploy_platform.build.output import has_index, has_publishable_file, missing_index_warning
from deploy_platform.build.runner import BuildRequest, BuildResult, OutputLimits, run_build
from deploy_platform.contracts.errors import BuildFailed
from deploy_platform.contracts.progress import Progress, no_progress
from deploy_platform.source.archive.tree import check_tree
from deploy_platform.storage import ObjectStore

__all__ = [
    "BuildLog",
    "BuildRequest",
    "BuildResult",
    "BuildRunnerResource",
    "NodeBuildRunner",
    "StaticBuildRunner",
    "OUTPUT_DIRS",
]

#: Where a site without a build step keeps its pages, in the order they are tried.
OUTPUT_DIRS = ("public", "dist", "build")

#: Receives one line of the build's own output (the asset passes `context.log.info`).
BuildLog = Callable[[str], object]


class BuildRunnerResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Turns a checked-out source tree into the directory that gets published."""

    # Limits for unpacking sources and artifacts (a decompression bomb stops here).
    max_tree_bytes: int = 2 * 1024 * 1024 * 1024
    max_tree_files: int = 200_000

    @abstractmethod
    def build(
        self,
        source_dir: Path,
        log: BuildLog,
        request: BuildRequest | None = None,
        store: ObjectStore | None = None,
        progress: Progress = no_progress,
    ) -> BuildResult:
        """Build `source_dir` in place; raise `BuildFailed` with a message a person can act on.

        `request` carries the project and its build settings; `store` holds the build cache;
        `progress` gets the milestones a person watches live (contracts/progress.py).
        """


class StaticBuildRunner(BuildRunnerResource):
    """No build step: publish the first directory that holds an `index.html`, else the first
    of public/, dist/, build/ that exists, else the root; without an index.html with a warning
    (Cloudflare Pages publishes any directory)."""

    def build(
        self,
        source_dir: Path,
        log: BuildLog,
        request: BuildRequest | None = None,
        store: ObjectStore | None = None,
        progress: Progress = no_progress,
    ) -> BuildResult:
        started = time.monotonic()
        log = _also_printed(log)
        output = find_static_output(source_dir)
        # SECURITY: the output is served as is, so nothing in it may point outside it.
        check_tree(output)
        where = output.relative_to(source_dir).as_posix()
        place = "the repository root" if where == "." else where + "/"
        line = f"static site: publishing {place}"
        log(line)
        if not has_publishable_file(output):
            raise BuildFailed(
                f"nothing to publish: {place} has no files "
                "(hidden files and directories such as .env or .git are never published)"
            )
        warnings: tuple[str, ...] = ()
        if not has_index(output):
            warnings = (missing_index_warning(place),)
            log(f"warning: {warnings[0]}")
        progress("output", line)
        return BuildResult(
            output_dir=output,
            framework="static",
            install_command=None,
            build_command=None,
            log_tail=line,
            duration_s=time.monotonic() - started,
            warnings=warnings,
        )


class NodeBuildRunner(BuildRunnerResource):
    """Real builds: detect the framework, provision Node and the package manager, restore
    the build cache, install and build in the sandbox, check the output (see build/runner.py)."""

    # Where Node versions and package managers are kept once downloaded (per version).
    tool_cache_dir: str
    wall_seconds: float = 900.0
    memory_bytes: int = 4 * 1024 * 1024 * 1024
    max_processes: int = 512
    max_file_bytes: int = 2 * 1024 * 1024 * 1024
    max_open_files: int = 8192
    log_bytes: int = 8 * 1024 * 1024
    max_output_files: int = 100_000
    max_output_bytes: int = 1024 * 1024 * 1024

    def build(
        self,
        source_dir: Path,
        log: BuildLog,
        request: BuildRequest | None = None,
        store: ObjectStore | None = None,
        progress: Progress = no_progress,
    ) -> BuildResult:
        if request is None or store is None:
            raise BuildFailed("internal error: a real build needs the project and the object store")
        limits = sandbox.Limits(
            wall_seconds=self.wall_seconds,
            memory_bytes=self.memory_bytes,
            max_processes=self.max_processes,
            max_file_bytes=self.max_file_bytes,
            max_open_files=self.max_open_files,
            log_bytes=self.log_bytes,
        )
        return run_build(
            source_dir,
            request,
            store=store,
            tool_cache=Path(self.tool_cache_dir),
            limits=limits,
            output_limits=OutputLimits(self.max_output_files, self.max_output_bytes),
            log=_also_printed(log),
            progress=progress,
            # The build's own lines go to the run worker's stdout, which Dagster
            # captures: a person watches them live in the run's stdout view.
            output=_print_line,
        )


def _print_line(line: str) -> None:
    print(line, flush=True)


def _also_printed(log: BuildLog) -> BuildLog:
    """`log`, each line also printed beside the build's own output: the build log a
    person reads (`deploy-platform logs`, the run's stdout tab) then says, in order with
    that output, what the platform found and did (framework, cache, each warning)."""

    def both(line: str) -> None:
        log(line)
        _print_line(line)

    return both


def find_static_output(source_dir: Path) -> Path:
    """The root if it has index.html, else the first of public/, dist/, build/ that has one,
    else the first of those that exists, else the root itself."""
    candidates = [source_dir, *(source_dir / name for name in OUTPUT_DIRS)]
    fallback: Path | None = None
    for candidate in candidates:
        # A symlinked directory or index.html is not followed: it could lead out of the tree.
        if candidate.is_symlink() or not candidate.is_dir():
            continue
        if has_index(candidate):
            return candidate
        if fallback is None and candidate != source_dir:
            fallback = candidate
    return fallback or source_dir
