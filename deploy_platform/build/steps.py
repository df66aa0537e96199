"""What every kind of build shares: its request and result, and how its steps run.

A step (install, build, a generator's virtualenv) runs in the sandbox behind one
boundary (what it may write and read), with one environment, one set of limits
and one list of secrets to redact; a failing step raises `BuildFailed` with its
last lines. The output a build publishes is checked here too (no link leaving it,
capped in files and bytes). `runner` (Node and static builds) and `generators`
(Hugo, MkDocs, Sphinx, Pelican) both use it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy_platform.build import isolation, sandbox
from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import BuildFailed
from deploy_platform.contracts.progress import Progress, no_progress
from deploy_platform.source.archive.tree import check_tree

__all__ = [
    "BuildRequest",
    "BuildResult",
    "OutputLimits",
    "DEFAULT_OUTPUT_LIMITS",
    "Boundary",
    "Steps",
    "open_isolation",
    "check_output",
    "Log",
]

Log = Callable[[str], object]


@dataclass(frozen=True)
class OutputLimits:
    max_files: int = 100_000
    max_bytes: int = 1024 * 1024 * 1024


DEFAULT_OUTPUT_LIMITS = OutputLimits()


@dataclass(frozen=True)
class BuildRequest:
    """What the pipeline knows about the deployment being built."""

    project: str
    settings: BuildSettings = field(default_factory=BuildSettings)
    # Extra values to redact from the build's log (the project's secrets are added).
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildResult:
    """The directory to publish and what the UI shows about how it was made."""

    output_dir: Path
    framework: str
    install_command: str | None
    build_command: str | None
    log_tail: str
    duration_s: float
    # Everything else worth showing in the UI (Node and package manager versions,
    # cache hit, per-step timings); JSON-able values.
    metadata: dict[str, Any] = field(default_factory=dict)
    # The repository's raw routing rules ({"vercel": {...}, "netlify": {...}}, from
    # `BuildPlan.routing`), checked and applied when publishing (see
    # deploy_platform.publish.rule_files).
    routing: dict[str, Any] = field(default_factory=dict)
    # Problems the build worked around (a lockfile out of date, no index.html in the
    # output), one line each; shown as warnings, never fatal.
    warnings: tuple[str, ...] = ()


def _failure(
    step: str, argv: Sequence[str], result: sandbox.RunResult, limits: sandbox.Limits
) -> BuildFailed:
    command = shlex.join(argv)
    if result.timed_out:
        return BuildFailed(
            f"{step} timed out after {limits.wall_seconds:.0f} s (`{command}`); the build's "
            f"time limit stopped it. Last lines:\n{result.tail}"
        )
    code = result.exit_code
    how = (
        f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with {code}"
    )
    return BuildFailed(f"{step} failed: `{command}` {how}. Last lines:\n{result.tail}")


@dataclass(frozen=True)
class Boundary:
    """What install and build may write and read, and how they are isolated."""

    status: isolation.Status
    writable: tuple[Path, ...]
    readable: tuple[Path, ...]


def open_isolation(log: Log, output: Log) -> isolation.Status:
    status = isolation.current()
    try:
        isolation.require(status)
    except isolation.IsolationUnavailable as exc:
        raise BuildFailed(str(exc)) from None
    log(status.describe())
    if not status.isolated:
        # Loud in the build's own output too, where a person reads why it failed.
        output(f"[sandbox] {status.describe()}")
    return status


@dataclass(frozen=True)
class Steps:
    """Install and build: run alike in the sandbox, behind one boundary, with one
    environment, one set of limits and one list of secrets to redact."""

    boundary: Boundary
    env: dict[str, str]
    limits: sandbox.Limits
    secrets: Sequence[str]
    output: Log
    log: Log
    # The milestones a person watches live (`running npm ci`, then `npm ci (16.2 s)`).
    progress: Progress = no_progress

    def run(self, step: str, argv: Sequence[str], cwd: Path) -> sandbox.RunResult:
        """Run one step; raise `BuildFailed` (with the last lines) when it fails."""
        command = shlex.join(argv)
        self.log(f"{step}: {command}")
        self.progress(step, f"running {command}")
        self.output(f"$ {command}")
        result = sandbox.run(
            argv,
            cwd=cwd,
            env=self.env,
            limits=self.limits,
            on_line=self.output,
            secrets=self.secrets,
            writable=self.boundary.writable,
            readable=self.boundary.readable,
            isolation_status=self.boundary.status,
        )
        if result.timed_out or result.exit_code != 0:
            raise _failure(step, argv, result, self.limits)
        self.log(f"{step} finished in {result.duration_s:.1f} s")
        self.progress(step, f"{command} ({result.duration_s:.1f} s)")
        return result


def check_output(output: Path, limits: OutputLimits) -> Any:
    # SECURITY: the output is served as is: no link may lead outside it, and its size is capped.
    stats = check_tree(output)
    if stats.files > limits.max_files:
        raise BuildFailed(f"the output has {stats.files} files; the limit is {limits.max_files}")
    if stats.bytes > limits.max_bytes:
        raise BuildFailed(f"the output holds {stats.bytes} bytes; the limit is {limits.max_bytes}")
    return stats
