"""Run and watch a handful of child processes for `deploy-platform up`.

Each child gets its own process group (so one signal reaches everything it
spawned, e.g. the edge-origin's workers or the daemon's run workers), a log file,
a pid file under `<state>/run/`, and the parent-death signal; the warden
(`processes/warden.py`), told of every group, takes the groups down when `up`
dies by SIGKILL, so nothing outlives a killed `up`. A child that dies on its own
is restarted at once, then with backoff if it keeps dying: the platform is meant
to survive a crashed daemon or Redis (the Redis append-only file keeps the queue
and records, the sensor picks the ids up when it is back). Every exit is
reported with the last lines of the child's log, which say why.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from deploy_platform.processes.lifetime import new_group_dying_with_parent
from deploy_platform.processes.warden import Warden

__all__ = ["ChildFailed", "ChildSpec", "Supervisor"]

_TAIL_LINES = 15
_TAIL_BYTES = 16384
# A child that ran this long before dying is restarted at once again.
_HEALTHY_SECONDS = 60.0


@dataclass
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path | None = None
    #: Stopped after every other child (Redis: its clients finish their writes first).
    stop_last: bool = False


class ChildFailed(Exception):
    """A child exited while `up` waited for it to start, or keeps exiting; the
    message ends with the last lines of its log."""


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    restarts: int = 0
    next_start: float | None = None
    started_at: float = 0.0
    log_offset: int = 0  # where this start's output begins in the log file


@dataclass
class Supervisor:
    run_dir: Path
    log_dir: Path
    restart: bool = True
    max_restarts: int = 20
    children: dict[str, _Child] = field(default_factory=dict)
    echo: bool = True
    warden: Warden | None = None

    def start(self, spec: ChildSpec) -> None:
        child = self.children.setdefault(spec.name, _Child(spec))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(spec.name)
        if child.log is None:
            child.log = open(log_path, "ab")  # noqa: SIM115
        child.log_offset = log_path.stat().st_size
        child.process = subprocess.Popen(
            list(spec.argv),
            env=dict(spec.env),
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=child.log,
            stderr=subprocess.STDOUT,
            preexec_fn=new_group_dying_with_parent,
        )
        if self.warden is not None:
            self.warden.watch(child.process.pid)
        child.started_at = time.monotonic()
        child.next_start = None
        (self.run_dir / f"{spec.name}.pid").write_text(f"{child.process.pid}\n")

    def pid(self, name: str) -> int | None:
        child = self.children.get(name)
        return child.process.pid if child and child.process else None

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = _TAIL_LINES) -> str:
        """The last `lines` lines the child wrote since its latest start."""
        child = self.children[name]
        try:
            with open(self.log_path(name), "rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(child.log_offset, size - _TAIL_BYTES))
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def wait_ready(self, checks: Mapping[str, Callable[[], bool]], timeout: float) -> None:
        """Wait until each named child's check passes. Any child exiting meanwhile
        ends the wait at once: `ChildFailed` with its own last words."""
        pending = dict(checks)
        deadline = time.monotonic() + timeout
        while True:
            for name, child in self.children.items():
                if child.process is not None and child.process.poll() is not None:
                    raise ChildFailed(
                        f"{name} {_exit_text(child.process.returncode)} while starting"
                        + self._tail_text(name)
                    )
            pending = {name: ready for name, ready in pending.items() if not ready()}
            if not pending:
                return
            if time.monotonic() > deadline:
                name = next(iter(pending))
                raise ChildFailed(
                    f"{', '.join(pending)} not ready after {timeout:.0f}s" + self._tail_text(name)
                )
            time.sleep(0.1)

    def poll(self) -> list[str]:
        """Restart children that exited; returns the names that exited this call.
        Raises `ChildFailed` for a child that exited more than `max_restarts`
        times in a row without a healthy run between."""
        exited: list[str] = []
        now = time.monotonic()
        for name, child in self.children.items():
            proc = child.process
            if proc is not None and proc.poll() is not None:
                exited.append(name)
                self._say(f"{name} {_exit_text(proc.returncode)}" + self._tail_text(name))
                self._end_group(proc.pid)  # leftovers of the dead child
                child.process = None
                if now - child.started_at > _HEALTHY_SECONDS:
                    child.restarts = 0
                # At once after a healthy run (Redis must be back within a second or
                # two); then 1 s, 2 s, 4 s... while it keeps dying.
                delay = min(30.0, 2.0 ** (child.restarts - 1)) if child.restarts else 0.0
                child.next_start = now + delay
                child.restarts += 1
            if (
                child.process is None
                and self.restart
                and child.next_start is not None
                and now >= child.next_start
            ):
                if child.restarts > self.max_restarts:
                    raise ChildFailed(
                        f"{name} keeps exiting ({child.restarts} times in a row); giving up"
                        + self._tail_text(name)
                    )
                self._say(f"restarting {name}")
                self.start(child.spec)
        return exited

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process group, then SIGKILL what is left after `timeout`;
        children marked `stop_last` once the others are gone."""
        first = [c for c in self.children.values() if not c.spec.stop_last]
        last = [c for c in self.children.values() if c.spec.stop_last]
        for batch in (first, last):
            self._stop_batch(batch, timeout)
        for child in self.children.values():
            if child.log is not None:
                child.log.close()
                child.log = None
            (self.run_dir / f"{child.spec.name}.pid").unlink(missing_ok=True)

    def _stop_batch(self, children: list[_Child], timeout: float) -> None:
        live = [c.process for c in children if c.process is not None]
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
            self._end_group(proc.pid)
        for child in children:
            child.process = None

    def _end_group(self, pgid: int) -> None:
        self._kill_group(pgid, signal.SIGKILL)
        if self.warden is not None:
            self.warden.forget(pgid)

    def _tail_text(self, name: str) -> str:
        tail = self.log_tail(name)
        where = self.log_path(name)
        if not tail:
            return f" (nothing in {where})"
        indented = "\n".join(f"    {line}" for line in tail.splitlines())
        return f"; last lines of {where}:\n{indented}"

    @staticmethod
    def _kill_group(pgid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _say(self, message: str) -> None:
        if self.echo:
            print(f"[up] {message}", flush=True)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
