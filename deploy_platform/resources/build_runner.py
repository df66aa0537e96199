"""The build step as a resource: source tree in, publishable output tree out.

`BuildRunnerResource` is the interface the `built_artifact` asset declares;
`StaticBuildRunner` serves plain HTML/CSS/JS sites (no build step). The next
issue adds a runner that installs and builds with npm in a sandbox; assets and
tests swap the implementation through `Definitions`, never by patching.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from deploy_platform.archive import check_tree
from deploy_platform.errors import BuildFailed

__all__ = ["BuildLog", "BuildResult", "BuildRunnerResource", "StaticBuildRunner", "OUTPUT_DIRS"]

#: Where a site without a build step keeps its pages, in the order they are tried.
OUTPUT_DIRS = ("public", "dist", "build")

#: Receives one line of the build's own output (the asset passes `context.log.info`).
BuildLog = Callable[[str], object]


@dataclass(frozen=True)
class BuildResult:
    output_dir: Path
    framework: str
    install_command: str | None
    build_command: str | None
    log_tail: str
    duration_s: float


class BuildRunnerResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Turns a checked-out source tree into the directory that gets published."""

    # Limits for unpacking sources and artifacts (a decompression bomb stops here).
    max_tree_bytes: int = 2 * 1024 * 1024 * 1024
    max_tree_files: int = 200_000

    @abstractmethod
    def build(self, source_dir: Path, log: BuildLog) -> BuildResult:
        """Build `source_dir` in place; raise `BuildFailed` with a message a person can act on."""


class StaticBuildRunner(BuildRunnerResource):
    """No build step: publish the first directory that holds an `index.html`."""

    def build(self, source_dir: Path, log: BuildLog) -> BuildResult:
        started = time.monotonic()
        output = find_static_output(source_dir)
        # SECURITY: the output is served as is, so nothing in it may point outside it.
        check_tree(output)
        where = output.relative_to(source_dir).as_posix()
        line = f"static site: publishing {'the repository root' if where == '.' else where + '/'}"
        log(line)
        return BuildResult(
            output_dir=output,
            framework="static",
            install_command=None,
            build_command=None,
            log_tail=line,
            duration_s=time.monotonic() - started,
        )


def find_static_output(source_dir: Path) -> Path:
    """The root if it has index.html, else the first of public/, dist/, build/ that has one."""
    candidates = [source_dir, *(source_dir / name for name in OUTPUT_DIRS)]
    for candidate in candidates:
        # A symlinked directory or index.html is not followed: it could lead out of the tree.
        if candidate.is_symlink() or not candidate.is_dir():
            continue
        index = candidate / "index.html"
        if index.is_file() and not index.is_symlink():
            return candidate
    searched = ", ".join(["./", *(f"{name}/" for name in OUTPUT_DIRS)])
    raise BuildFailed(
        f"no index.html to publish: looked in {searched} of the source. "
        "Add an index.html at the repository root or in one of those directories."
    )
