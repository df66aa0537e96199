"""A cgroup per build, where the machine lets the platform make one.

A cgroup counts and limits a whole build (memory of all its processes
together, number of processes) and lists its members however they were
started, which rlimits cannot. It needs a writable cgroup hierarchy: the
platform running as root on a host or a privileged container, or a delegated
subtree (systemd `Delegate=yes`). The build's cgroup is made *inside* the
platform's own cgroup, so whatever limits the platform itself runs under still
apply to its builds.

- cgroup v1 (separate `memory` and `pids` hierarchies): `memory.limit_in_bytes`,
  `pids.max`.
- cgroup v2 (unified): `memory.max`, `memory.swap.max = 0`, `pids.max`, and
  `cgroup.kill`; only when the platform's own cgroup already delegates the
  `memory` and `pids` controllers to its children.

`BuildCgroup.create` returns None when none of this is possible; the sandbox
then relies on rlimits and its supervisor alone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BuildCgroup"]

_ROOT = Path("/sys/fs/cgroup")


def _own_paths() -> dict[str, str]:
    """Controller name ("" for the v2 hierarchy) → this process's cgroup path."""
    paths: dict[str, str] = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return paths
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


@dataclass(frozen=True)
class BuildCgroup:
    """The directories of one build's cgroup (one per v1 controller, or one v2 group)."""

    directories: tuple[Path, ...]
    version: int
    description: str

    @property
    def procs_files(self) -> list[str]:
        """Where the build's first process writes its pid to join."""
        return [str(d / "cgroup.procs") for d in self.directories]

    @classmethod
    def create(cls, memory_bytes: int, max_processes: int) -> BuildCgroup | None:
        name = f"deploy-platform-build-{secrets.token_hex(6)}"
        own = _own_paths()
        if (_ROOT / "cgroup.controllers").exists():
            return cls._create_v2(
                _ROOT / own.get("", "/").lstrip("/"), name, memory_bytes, max_processes
            )
        return cls._create_v1(own, name, memory_bytes, max_processes)

    @classmethod
    def _create_v1(
        cls, own: dict[str, str], name: str, memory_bytes: int, max_processes: int
    ) -> BuildCgroup | None:
        settings = {
            "memory": {"memory.limit_in_bytes": memory_bytes},
            "pids": {"pids.max": max_processes},
        }
        made: list[Path] = []
        try:
            for controller, values in settings.items():
                if controller not in own:
                    raise OSError(f"no {controller} cgroup")
                directory = _ROOT / controller / own[controller].lstrip("/") / name
                directory.mkdir()
                made.append(directory)
                for key, value in values.items():
                    (directory / key).write_text(str(value))
        except OSError:
            for directory in made:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            return None
        return cls(
            tuple(made),
            1,
            f"cgroup v1: memory {memory_bytes} bytes for the whole build, at most "
            f"{max_processes} processes",
        )

    @classmethod
    def _create_v2(
        cls, parent: Path, name: str, memory_bytes: int, max_processes: int
    ) -> BuildCgroup | None:
        try:
            delegated = (parent / "cgroup.subtree_control").read_text().split()
        except OSError:
            return None
        if "memory" not in delegated or "pids" not in delegated:
            return None
        directory = parent / name
        try:
            directory.mkdir()
            (directory / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):
                (directory / "memory.swap.max").write_text("0")
            (directory / "pids.max").write_text(str(max_processes))
        except OSError:
            with contextlib.suppress(OSError):
                directory.rmdir()
            return None
        return cls(
            (directory,),
            2,
            f"cgroup v2: memory {memory_bytes} bytes for the whole build, at most "
            f"{max_processes} processes",
        )

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self.directories:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return found

    def kill(self) -> None:
        """SIGKILL every process in the group until it is empty (bounded)."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.directories[0] / "cgroup.kill").write_text("1")
        for _ in range(200):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this build for the memory limit."""
        for directory in self.directories:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError):
                    for line in (directory / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and value.strip() not in ("", "0"):
                            return True
        return False

    def remove(self) -> None:
        for directory in self.directories:
            # rmdir fails while a just-killed process is still being torn down.
            for _ in range(100):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
