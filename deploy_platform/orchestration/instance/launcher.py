"""`WarmProcessRunLauncher`: one process per run, forked from a server that has done the imports.

Dagster's default launcher asks the code server to spawn a fresh interpreter
per run; importing dagster and the definitions then costs ~1.5 s of wall time and
~2.5 s of CPU on every deployment, the largest part of enqueue-to-live for a
static site, and most of a burst's CPU. This launcher keeps one fork server
(`instance/fork_server.py`) that has done those imports; launching a run asks it
to fork a worker and hands the worker the run's `execute_run` argument. Each run
still gets its own process, so a build that crashes or leaks takes nothing else
with it. Runs of other jobs than `deploy` (the checks after a deploy, retention)
get a worker at a lower priority (nice 10): builds come first.

Configured in dagster.yaml (see `instance/home.py`):

    run_launcher:
      module: deploy_platform.orchestration.instance.launcher
      class: WarmProcessRunLauncher

It records the worker's pid, host and start time on the run, which lets run
monitoring see a worker that died (also after the daemon that launched it was
restarted: the run is then failed and, per `run_retries`, re-executed), and lets
`terminate` signal it. They are hidden tags (Dagster's `.dagster/` prefix): stored
with the run like any tag, but never shown in the UI, whose run tags are kept to
what a person filters by (see contracts/tags.py).

A run is launched once per process even when two launch requests race (the
queued-run coordinator's dequeue loop and `LaunchOnSubmitCoordinator` both launch;
see instance/coordinator.py): the second finds the run id already launched.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Self

from dagster._core.launcher.base import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._core.origin import JobPythonOrigin
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import HIDDEN_TAG_PREFIX
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClass, ConfigurableClassData, serialize_value

from deploy_platform.contracts.tags import DEPLOY_JOB
from deploy_platform.processes.proc import signal_zero, stat_fields

__all__ = [
    "WarmProcessRunLauncher",
    "WORKER_PID_TAG",
    "WORKER_HOST_TAG",
    "WORKER_START_TAG",
    "WORKER_TAGS",
]

WORKER_PID_TAG = f"{HIDDEN_TAG_PREFIX}deploy_worker_pid"
WORKER_HOST_TAG = f"{HIDDEN_TAG_PREFIX}deploy_worker_host"
# The worker's start time (clock ticks since boot, /proc/<pid>/stat field 22): pids
# are reused (pid_max can be 32768), and a crashed worker's pid taken by another
# process must not keep its run "running" until max_runtime_seconds.
WORKER_START_TAG = f"{HIDDEN_TAG_PREFIX}deploy_worker_start"
WORKER_TAGS = (WORKER_PID_TAG, WORKER_HOST_TAG, WORKER_START_TAG)
# Where releases before the hidden tags put them: a run launched by one of those and
# still running when the platform is upgraded is still watched and can be stopped.
_LEGACY = {
    WORKER_PID_TAG: "deploy/worker_pid",
    WORKER_HOST_TAG: "deploy/worker_host",
    WORKER_START_TAG: "deploy/worker_start",
}


def worker_tag(run: DagsterRun, name: str) -> str | None:
    """One of the worker's tags on `run`, wherever the release that launched it put it."""
    return run.tags.get(name, run.tags.get(_LEGACY[name]))


def _server_key(origin: JobPythonOrigin) -> tuple[str, str | None, str]:
    pointer = origin.repository_origin.code_pointer
    return (
        origin.executable_path,
        getattr(pointer, "working_directory", None),
        str(getattr(pointer, "module", None) or getattr(pointer, "python_file", "")),
    )


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether `pid` is a running process -- the same one, when its start time
    `started` is known. A worker that exited but was not reaped yet (a zombie, for
    the moment until its waiter thread collects it) counts as gone."""
    reachable = signal_zero(pid)
    if not reachable:
        return reachable is None  # None: it runs, as another user
    fields = stat_fields(pid)
    if fields is None:
        return True
    if fields[0] == b"Z":
        return False
    if started is not None and len(fields) > 19 and fields[19].decode() != started:
        return False  # the pid now belongs to another process
    return True


#: How long a fork server may take to import dagster and the definitions and answer.
_SERVER_START_SECONDS = 120.0
#: Checks and housekeeping runs yield the CPU to builds.
_BACKGROUND_NICE = 10
# Runs this process has launched: a second launch of one of them is a race, not a retry
# (a retry is a new run with an id of its own).
_LAUNCHED: set[str] = set()
_LAUNCHED_LOCK = threading.Lock()


class ForkServerError(RuntimeError):
    """The fork server did not answer a request (it exited, or hung)."""


class _ForkServer:
    """One `fork_server` process, the socket it takes requests on, and a thread reading it."""

    def __init__(self, origin: JobPythonOrigin, on_exit: Callable[[], None]) -> None:
        self.key = _server_key(origin)
        executable, working_directory, module = self.key
        preload = [module] if module and not module.endswith(".py") else []
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [
                    executable,
                    "-m",
                    "deploy_platform.orchestration.instance.fork_server",
                    str(theirs.fileno()),
                    *preload,
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                cwd=working_directory or None,
            )
        finally:
            theirs.close()
        self.control = ours
        self.ready = False
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._on_exit = on_exit
        # The server is the daemon's child: without a waiter it would stay a zombie
        # under the daemon once it exits.
        threading.Thread(
            target=self.process.wait, name=f"reap-fork-server-{self.process.pid}", daemon=True
        ).start()
        threading.Thread(
            target=self._read, name=f"fork-server-{self.process.pid}", daemon=True
        ).start()

    def _read(self) -> None:
        try:
            for line in self.control.makefile("r", encoding="utf-8"):
                message = json.loads(line)
                if "exited" in message:
                    self._on_exit()
                else:
                    self._answers.put(message)
        except (OSError, ValueError):
            pass
        finally:
            self._answers.put(None)  # the server is gone: a waiting fork() hears it now

    def fork(self, argument: str, nice: int) -> tuple[int, str]:
        """A new worker for `argument`: its pid and start time."""
        request = json.dumps({"argument": argument, "nice": nice}) + "\n"
        try:
            self.control.sendall(request.encode())
            # The first answer waits for the server's imports; later ones take milliseconds.
            answer = self._answers.get(timeout=10.0 if self.ready else _SERVER_START_SECONDS)
        except (OSError, queue.Empty) as exc:
            raise ForkServerError(f"fork server {self.process.pid}: no answer ({exc!r})") from exc
        if answer is None:
            code = self.process.poll()
            raise ForkServerError(f"fork server {self.process.pid} exited (code {code})")
        self.ready = True
        return int(answer["pid"]), str(answer["start"])

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        # End of input: the server exits; the workers it forked carry on to their runs' end.
        try:
            self.control.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class WarmProcessRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in its own process, forked from a warm fork server."""

    def __init__(self, inst_data: ConfigurableClassData | None = None) -> None:
        self._inst_data = inst_data
        self._lock = threading.Lock()
        self._server: _ForkServer | None = None
        super().__init__()  # type: ignore[no-untyped-call]

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None:
            raise RuntimeError(f"run {run.run_id} has no code origin to execute")
        with _LAUNCHED_LOCK:
            if run.run_id in _LAUNCHED:
                return  # launched a moment ago by the other path (see the module docstring)
            _LAUNCHED.add(run.run_id)
        args = ExecuteRunArgs(
            job_origin=origin,
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
            set_exit_code_on_failure=True,
        )
        nice = 0 if run.job_name == DEPLOY_JOB else _BACKGROUND_NICE
        try:
            pid, started = self._fork(origin, serialize_value(args), nice)
        except BaseException:
            with _LAUNCHED_LOCK:
                _LAUNCHED.discard(run.run_id)
            raise
        tags = {WORKER_PID_TAG: str(pid), WORKER_HOST_TAG: socket.gethostname()}
        if started:
            tags[WORKER_START_TAG] = started
        self._instance.add_run_tags(run.run_id, tags)

    def _fork(self, origin: JobPythonOrigin, argument: str, nice: int) -> tuple[int, str]:
        with self._lock:
            for attempt in (1, 2):
                server = self._server
                if server is None or server.key != _server_key(origin) or not server.alive():
                    if server is not None:
                        server.close()
                    server = self._server = _ForkServer(origin, self._slot_freed)
                try:
                    return server.fork(argument, nice)
                except ForkServerError:
                    # A server killed or hung between two runs: one fresh start, then give up.
                    server.close()
                    self._server = None
                    if attempt == 2:
                        raise
                    time.sleep(0.1)
        raise AssertionError("unreachable")

    def _worker_pid(self, run: DagsterRun) -> int | None:
        if worker_tag(run, WORKER_HOST_TAG) not in (None, socket.gethostname()):
            return None
        try:
            return int(worker_tag(run, WORKER_PID_TAG) or "")
        except ValueError:
            return None

    def _slot_freed(self) -> None:
        """A worker exited: start the next queued run now, not at the queue's next loop."""
        coordinator = self._instance.run_coordinator
        launch_queued = getattr(coordinator, "launch_queued", None)
        if launch_queued is None:
            return
        # Not on the reader thread: a launch forks, and the fork's answer comes through it.
        threading.Thread(target=launch_queued, name="launch-queued", daemon=True).start()

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = self._worker_pid(run)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no worker pid recorded")
        if not _alive(pid, worker_tag(run, WORKER_START_TAG)):
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker {pid} is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        pid = self._worker_pid(run)
        if pid is None:
            return False
        self._instance.report_run_canceling(run)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def dispose(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.close()
                self._server = None
