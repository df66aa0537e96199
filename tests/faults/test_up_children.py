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
import stat
from pathlib import Path

import pytest

from tests.faults.up_process import (
    descendants,
    pid_files,
    processes_of,
    running,
    upload,
    wait_for_status,
    zombies,
)
from tests.support.environment import TOOLCHAIN_CACHE, child_env
from tests.support.platform import run_up, start_platform
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SLOW_SITE = {
    "index.html": "<h1>slow</h1>",
    "netlify.toml": '[build]\ncommand = "sleep 15 && mkdir -p out && cp index.html out/"\n'
    'publish = "out"\n',
}


def test_a_child_that_cannot_start_stops_up_at_once_with_the_childs_own_error(
    tmp_path: Path,
) -> None:
    # A state directory an earlier version left readable by everyone.
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "api-token").write_text("kept-token\n")
    os.chmod(state / "api-token", 0o644)
    # `up` passes the allow-list on; the control API refuses it when it starts.
    done = run_up(state, child_env(DP_GIT_ALLOW_HOSTS="example.com:8080"), timeout=120)

    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "api exited with code" in output
    # The API's own words, from logs/api.log, in what `up` printed.
    assert "error: DP_GIT_ALLOW_HOSTS entry 'example.com:8080'" in output
    assert "Traceback" not in output
    assert not processes_of(state)
    assert not [name for name, pid in pid_files(state).items() if running(pid)]
    # Its modes were put right as `up` started; the token is the same.
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "api-token").stat().st_mode) == 0o600
    assert (state / "api-token").read_text() == "kept-token\n"


def test_a_killed_up_leaves_nothing_running_and_the_next_up_starts_clean(tmp_path: Path) -> None:
    state = tmp_path / "state"
    platform = start_platform(state, extra_env={"DP_TOOL_CACHE_DIR": str(TOOLCHAIN_CACHE)})
    try:
        first = upload(platform, tmp_path, "first", {"index.html": "<h1>first</h1>"})
        second = upload(platform, tmp_path, "second", {"index.html": "<h1>second</h1>"})
        assert platform.wait(first)["status"] == "ready"
        assert platform.wait(second)["status"] == "ready"

        # Each run had a worker process of its own under the daemon; all are reaped.
        daemon = platform.pid("daemon")
        eventually(
            lambda: not zombies(descendants(daemon)),
            timeout=15,
            message="no zombie process under the Dagster daemon",
        )

        # A build in flight: its run worker would otherwise finish it after `up` died.
        slow = upload(platform, tmp_path, "slow", SLOW_SITE)
        wait_for_status(platform, slow, "building")

        children = pid_files(state)
        assert {"redis", "api", "edge", "code-server", "daemon", "webserver"} <= set(children)
        tree = processes_of(state)
        commands = "\n".join(tree.values())
        assert "dagster api grpc" in commands  # the code server the daemon and the UI share
        # The fork server, and the build's worker forked from it (same command line).
        run_workers = commands.count("deploy_platform.orchestration.instance.fork_server")
        assert run_workers >= 2
        assert sum("-m serve" in command for command in tree.values()) >= 2  # edge + workers
        below_daemon = descendants(daemon)  # the build's own processes too

        platform.process.send_signal(signal.SIGKILL)
        platform.process.wait()

        def left() -> dict[int, str]:
            known = [*children.values(), *tree, *below_daemon]
            return {pid: tree.get(pid, "") for pid in known if running(pid)} | processes_of(state)

        eventually(
            lambda: not left(),
            timeout=45,
            message=lambda: f"every process of the killed up gone; still running: {left()}",
        )
    finally:
        platform.stop()

    again = start_platform(state)
    try:
        record = again.wait(first)
        assert record["status"] == "ready"
        # The build `up` died in is run again, by the next `up`, to its end.
        rerun = again.wait(slow, timeout=300)
        assert rerun["status"] == "ready", rerun
        assert b"second" in again.fetch("second.localhost", "/")[2]
        third = upload(again, tmp_path, "third", {"index.html": "<h1>third</h1>"})
        assert again.wait(third)["status"] == "ready"
    finally:
        assert again.stop() == 0
    assert not processes_of(state)
