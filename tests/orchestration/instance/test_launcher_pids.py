"""The warm launcher's health check tells a live worker from a pid another process took."""

from __future__ import annotations

import os
import subprocess
import sys

from deploy_platform.orchestration.instance.launcher import _alive
from deploy_platform.processes.proc import start_time


def test_a_worker_is_alive_only_while_its_pid_is_the_same_process() -> None:
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = start_time(worker.pid)
        assert started is not None and started.isdigit()

        assert _alive(worker.pid, started)
        assert _alive(worker.pid)  # runs tagged before start times were recorded
        # The same pid with another start time: the worker died and its pid was reused.
        assert not _alive(worker.pid, str(int(started) + 1))
    finally:
        worker.kill()
    # Exited, not yet reaped (waited for without reaping): a zombie is gone too.
    os.waitid(os.P_PID, worker.pid, os.WEXITED | os.WNOWAIT)
    assert not _alive(worker.pid, started)
    worker.wait()
    assert not _alive(worker.pid, started)
