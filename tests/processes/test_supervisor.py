"""The supervisor over small real child processes: what `up` says when a child fails.

A child that exits while `up` waits for it ends the wait at once with the child's
own last words; one that keeps exiting later is restarted (at once the first
time, then with backoff) and finally given up on, again with its last words. And
what a killed `up` left running is taken down by the next one -- only that.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy_platform.processes.leftovers import stop_leftovers
from deploy_platform.processes.supervisor import ChildFailed, ChildSpec, Supervisor


def _child(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code], {"PATH": "/usr/bin:/bin"})


def test_a_child_exiting_while_waited_for_ends_the_wait_with_its_own_words(
    tmp_path: Path,
) -> None:
    supervisor = Supervisor(tmp_path / "run", tmp_path / "logs", echo=False)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "api.log").write_text("an older run's line\n")
    supervisor.start(_child("api", "import time; time.sleep(60)"))
    supervisor.start(
        _child("broken", "import sys; print('cannot read settings.toml'); sys.exit(3)")
    )
    try:
        with pytest.raises(ChildFailed) as failed:
            supervisor.wait_ready({"api": lambda: False}, timeout=60)
    finally:
        supervisor.stop()
    message = str(failed.value)
    assert message.startswith("broken exited with code 3 while starting")
    assert "cannot read settings.toml" in message
    assert "an older run's line" not in supervisor.log_tail("api")


def test_a_child_that_keeps_crashing_is_restarted_then_given_up_with_its_last_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = Supervisor(tmp_path / "run", tmp_path / "logs", max_restarts=2)
    crash = "import sys; print('lost my database', flush=True); sys.exit(4)"
    supervisor.start(_child("worker", crash))
    deadline = time.monotonic() + 60
    with pytest.raises(ChildFailed) as failed:
        while time.monotonic() < deadline:
            supervisor.poll()
            time.sleep(0.05)
    supervisor.stop()
    assert "worker keeps exiting (3 times in a row)" in str(failed.value)
    assert "lost my database" in str(failed.value)
    said = capsys.readouterr().out
    assert said.count("[up] worker exited with code 4; last lines of") == 3
    assert "    lost my database" in said
    assert said.count("[up] restarting worker") == 2


def test_the_next_up_takes_down_what_a_killed_up_left_and_nothing_else(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # What a killed `up` (and its warden) left: a child leading its own group, with
    # a grandchild in it.
    left = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)",
        ],
        start_new_session=True,
    )
    (run_dir / "daemon.pid").write_text(f"{left.pid}\n")
    # A pid file older than the process that has its pid now: not ours, left alone.
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    stale = run_dir / "edge.pid"
    stale.write_text(f"{stranger.pid}\n")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    try:
        time.sleep(0.5)  # the grandchild has started
        grandchildren = [
            int(pid)
            for pid in os.listdir("/proc")
            if pid.isdigit() and _parent(int(pid)) == left.pid
        ]
        assert grandchildren

        assert stop_leftovers(run_dir, grace=5) == ["daemon"]

        assert left.wait(timeout=10) is not None
        for pid in grandchildren:
            assert not Path(f"/proc/{pid}").exists() or _state(pid) == "Z"
        assert stranger.poll() is None
        assert not list(run_dir.glob("*.pid"))
    finally:
        for process in (left, stranger):
            process.kill()
            process.wait()


def _stat_after_name(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _parent(pid: int) -> int:
    fields = _stat_after_name(pid)
    return int(fields[1]) if len(fields) > 1 else 0


def _state(pid: int) -> str:
    fields = _stat_after_name(pid)
    return fields[0] if fields else ""
