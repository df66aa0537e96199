"""`deploy-platform up` and its children, as real processes.

A child that cannot start is reported at once with its own error and `up` exits
non-zero (no 60 s wait, no traceback); finished run workers are reaped (no zombie
under the Dagster daemon); `kill -9` of `up` leaves no process of it running --
Redis, API, edge workers, daemon, code server, run workers -- and the next `up`
starts cleanly on the same state directory, with every record kept.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.faults.up_process import (
    descendants,
    pid_files,
    processes_of,
    run_up,
    running,
    upload,
    wait_for,
    zombies,
)
from tests.support.platform import start_platform

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DP_", "DAGSTER_"))}
    env.update(extra)
    return env


def test_a_child_that_cannot_start_stops_up_at_once_with_the_childs_own_error(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    # `up` passes the allow-list on; the control API refuses it when it starts.
    done = run_up(state, _clean_env(DP_GIT_ALLOW_HOSTS="example.com:8080"), timeout=120)

    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "api exited with code" in output
    # The API's own words, from logs/api.log, in what `up` printed.
    assert "error: DP_GIT_ALLOW_HOSTS entry 'example.com:8080'" in output
    assert "Traceback" not in output
    assert not processes_of(state)
    assert not [name for name, pid in pid_files(state).items() if running(pid)]


def test_a_killed_up_leaves_nothing_running_and_the_next_up_starts_clean(tmp_path: Path) -> None:
    state = tmp_path / "state"
    platform = start_platform(state)
    try:
        first = upload(platform, tmp_path, "first", {"index.html": "<h1>first</h1>"})
        second = upload(platform, tmp_path, "second", {"index.html": "<h1>second</h1>"})
        assert platform.wait(first)["status"] == "ready"
        assert platform.wait(second)["status"] == "ready"

        # Each run had a worker process of its own under the daemon; all are reaped.
        daemon = platform.pid("daemon")
        wait_for(
            lambda: not zombies(descendants(daemon)),
            timeout=15,
            what="no zombie process under the Dagster daemon",
        )

        children = pid_files(state)
        assert {"redis", "api", "edge", "daemon", "webserver"} <= set(children)
        tree = processes_of(state)
        commands = "\n".join(tree.values())
        assert "dagster api grpc" in commands  # the daemon's code server
        assert "deploy_platform.run_worker" in commands  # the standby run worker
        assert sum("-m serve" in command for command in tree.values()) >= 2  # edge + workers

        platform.process.send_signal(signal.SIGKILL)
        platform.process.wait()

        def nothing_left() -> bool:
            alive = [pid for pid in [*children.values(), *tree] if running(pid)]
            return not alive and not processes_of(state)

        wait_for(nothing_left, timeout=45, what=f"every process of the killed up gone: {tree}")
    finally:
        platform.stop()

    again = start_platform(state)
    try:
        record = again.wait(first)
        assert record["status"] == "ready"
        assert b"second" in again.fetch("second.localhost", "/")[2]
        third = upload(again, tmp_path, "third", {"index.html": "<h1>third</h1>"})
        assert again.wait(third)["status"] == "ready"
    finally:
        assert again.stop() == 0
    assert not processes_of(state)
