"""Run and watch a handful of child processes for `deploy-platform up`.

Each child gets its own process group (so one signal reaches everything it
spawned, e.g. the Dagster daemon's code server and run workers), a log file,
a pid file under `<state>/run/`, and the parent-death signal so that nothing
outlives a killed `up`. A child that dies on its own is restarted with backoff:
the platform is meant to survive a crashed daemon (the Redis queue keeps the
ids, the sensor picks them up when it is back).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from deploy_platform.services.lifetime import new_group_dying_with_parent

__all__ = ["ChildSpec", "Supervisor"]


@dataclass
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path | None = None


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0


@dataclass
class Supervisor:
    run_dir: Path
    log_dir: Path
    restart: bool = True
    max_restarts: int = 20
    children: dict[str, _Child] = field(default_factory=dict)
    echo: bool = True

    def start(self, spec: ChildSpec) -> None:
        child = self.children.setdefault(spec.name, _Child(spec))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if child.log is None:
            child.log = open(self.log_dir / f"{spec.name}.log", "ab")  # noqa: SIM115
        child.process = subprocess.Popen(
            list(spec.argv),
            env=dict(spec.env),
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=child.log,
            stderr=subprocess.STDOUT,
            preexec_fn=new_group_dying_with_parent,
        )
        child.started_at = time.monotonic()
        (self.run_dir / f"{spec.name}.pid").write_text(f"{child.process.pid}\n")

    def pid(self, name: str) -> int | None:
        child = self.children.get(name)
        return child.process.pid if child and child.process else None

    def poll(self) -> list[str]:
        """Restart children that exited; returns the names that exited this call."""
        exited: list[str] = []
        now = time.monotonic()
        for name, child in self.children.items():
            proc = child.process
            if proc is not None and proc.poll() is not None:
                exited.append(name)
                self._say(
                    f"{name} exited with code {proc.returncode} (log: {self.log_dir}/{name}.log)"
                )
                self._kill_group(proc.pid, signal.SIGKILL)  # leftovers of the dead child
                child.process = None
                # Back off 1 s, 2 s, 4 s... but reset after a long healthy run.
                if now - child.started_at > 60:
                    child.restarts = 0
                child.next_start = now + min(30.0, 2.0**child.restarts)
                child.restarts += 1
            if child.process is None and self.restart and now >= child.next_start > 0:
                if child.restarts > self.max_restarts:
                    raise RuntimeError(f"{name} keeps exiting; see {self.log_dir}/{name}.log")
                self._say(f"restarting {name}")
                self.start(child.spec)
        return exited

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process group, then SIGKILL what is left after `timeout`."""
        live = [c.process for c in self.children.values() if c.process is not None]
        for proc in live:
            self._kill_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
            # The group may hold grandchildren (run workers, code servers) still going.
            self._kill_group(proc.pid, signal.SIGKILL)
        for child in self.children.values():
            child.process = None
            if child.log is not None:
                child.log.close()
                child.log = None
            (self.run_dir / f"{child.spec.name}.pid").unlink(missing_ok=True)

    @staticmethod
    def _kill_group(pgid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _say(self, message: str) -> None:
        if self.echo:
            print(f"[up] {message}", flush=True)
