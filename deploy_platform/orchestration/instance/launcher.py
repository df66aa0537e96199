"""`WarmProcessRunLauncher`: one process per run, started before the run exists.

Dagster's default launcher asks the code server to spawn a fresh interpreter
per run; importing dagster and the definitions then costs ~1.5 s on every
deployment, the largest part of enqueue-to-live for a static site. This
launcher keeps one standby worker (`instance/run_worker.py`) that has done those imports
and waits on stdin; launching a run hands it the run's `execute_run` arguments
and starts the next standby in the background. Each run still gets its own
process, so a build that crashes or leaks takes nothing else with it.

Configured in dagster.yaml (see `instance/home.py`):

    run_launcher:
      module: deploy_platform.orchestration.instance.launcher
      class: WarmProcessRunLauncher

It records the worker's pid, host and start time on the run, which lets run
monitoring see a worker that died even after the daemon that launched it was
restarted (the run is then failed and, per `run_retries`, re-executed), and lets
`terminate` signal it. They are hidden tags (Dagster's `.dagster/` prefix): stored
with the run like any tag, but never shown in the UI, whose run tags are kept to
what a person filters by (see contracts/tags.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Mapping
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


def _standby_key(origin: JobPythonOrigin) -> tuple[str, str | None, str]:
    pointer = origin.repository_origin.code_pointer
    return (
        origin.executable_path,
        getattr(pointer, "working_directory", None),
        str(getattr(pointer, "module", None) or getattr(pointer, "python_file", "")),
    )


def _start_time(pid: int) -> str | None:
    fields = stat_fields(pid)
    # Field 22 of the whole line is the 20th after the command name.
    return fields[19].decode() if fields is not None and len(fields) > 19 else None


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


class _Standby:
    def __init__(self, origin: JobPythonOrigin) -> None:
        self.key = _standby_key(origin)
        executable, working_directory, module = self.key
        preload = [module] if module and not module.endswith(".py") else []
        self.process = subprocess.Popen(
            [executable, "-m", "deploy_platform.orchestration.instance.run_worker", *preload],
            stdin=subprocess.PIPE,
            cwd=working_directory or None,
            text=True,
        )
        # The worker is the daemon's child, and nothing else waits for it: run
        # monitoring stops looking once the run is finished (and may live on another
        # instance object), and `_reap` runs only at the next launch. Without a
        # waiter every finished worker would stay a zombie under the daemon.
        threading.Thread(
            target=self.process.wait, name=f"reap-run-worker-{self.process.pid}", daemon=True
        ).start()

    def start(self, args: ExecuteRunArgs) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(serialize_value(args) + "\n")
        self.process.stdin.close()

    def retire(self) -> subprocess.Popen[str]:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()  # end of input: the worker exits without a run
        return self.process


class WarmProcessRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in its own process, taken from a pre-started standby."""

    def __init__(self, inst_data: ConfigurableClassData | None = None) -> None:
        self._inst_data = inst_data
        self._lock = threading.Lock()
        self._standby: _Standby | None = None
        # Run id -> its worker; retired standbys too (keyed by pid) until reaped.
        self._workers: dict[str, subprocess.Popen[str]] = {}
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
        args = ExecuteRunArgs(
            job_origin=origin,
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
            set_exit_code_on_failure=True,
        )
        with self._lock:
            self._reap()
            standby = self._standby
            self._standby = None
            if (
                standby is None
                or standby.key != _standby_key(origin)
                or (standby.process.poll() is not None)
            ):
                if standby is not None:
                    self._retire(standby)
                standby = _Standby(origin)
            tags = {WORKER_PID_TAG: str(standby.process.pid), WORKER_HOST_TAG: socket.gethostname()}
            started = _start_time(standby.process.pid)
            if started is not None:
                tags[WORKER_START_TAG] = started
            self._instance.add_run_tags(run.run_id, tags)
            standby.start(args)
            self._workers[run.run_id] = standby.process
        # The next run's worker imports while this one runs.
        threading.Thread(target=self._prepare_standby, args=(origin,), daemon=True).start()

    def _prepare_standby(self, origin: JobPythonOrigin) -> None:
        fresh = _Standby(origin)
        with self._lock:
            if self._standby is None:
                self._standby = fresh
            else:
                self._retire(fresh)

    def _retire(self, standby: _Standby) -> None:
        process = standby.retire()
        self._workers[f"standby-{process.pid}"] = process

    def _reap(self) -> None:
        for run_id, process in list(self._workers.items()):
            if process.poll() is not None:
                del self._workers[run_id]

    def _worker_pid(self, run: DagsterRun) -> int | None:
        if worker_tag(run, WORKER_HOST_TAG) not in (None, socket.gethostname()):
            return None
        try:
            return int(worker_tag(run, WORKER_PID_TAG) or "")
        except ValueError:
            return None

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        with self._lock:
            process = self._workers.get(run.run_id)
            if process is not None:
                code = process.poll()
                if code is None:
                    return CheckRunHealthResult(WorkerStatus.RUNNING)
                del self._workers[run.run_id]
                status = WorkerStatus.SUCCESS if code == 0 else WorkerStatus.FAILED
                return CheckRunHealthResult(status, f"run worker exited with code {code}")
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
            if self._standby is not None:
                self._retire(self._standby)
                self._standby = None
