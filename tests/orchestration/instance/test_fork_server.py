"""The run workers' fork server, as the launcher drives it: a real process over a socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.waiting import eventually

_REPO = Path(__file__).resolve().parents[3]


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return None


def test_each_request_forks_a_worker_that_is_reaped_and_end_of_input_stops_the_server() -> None:
    ours, theirs = socket.socketpair()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deploy_platform.orchestration.instance.fork_server",
            str(theirs.fileno()),
        ],
        pass_fds=(theirs.fileno(),),
        cwd=_REPO,
        env={**os.environ, "PYTHONPATH": str(_REPO)},
        stderr=subprocess.PIPE,
        text=True,
    )
    theirs.close()
    answers = ours.makefile("r", encoding="utf-8")
    ours.settimeout(120)
    try:
        pids: list[int] = []
        exited: dict[int, int] = {}

        def next_message() -> dict[str, int]:
            message = json.loads(answers.readline())
            if "exited" in message:
                exited[message["exited"]] = message["code"]
            return dict(message)

        for _ in range(2):
            # Not a run Dagster can execute: the worker starts, fails and exits.
            ours.sendall(json.dumps({"argument": "{}", "nice": 10}).encode() + b"\n")
            answer = next_message()
            while "pid" not in answer:
                answer = next_message()
            assert answer["pid"] not in (server.pid, *pids)
            pids.append(answer["pid"])
        # The server says when each exits (the launcher then fills the freed slot) ...
        while set(exited) != set(pids):
            next_message()
        assert all(code != 0 for code in exited.values())
        # ... and reaped both: no zombie left behind.
        eventually(
            lambda: all(_state(pid) is None for pid in pids),
            timeout=60,
            message=lambda: f"workers {pids} reaped; states {[_state(p) for p in pids]}",
        )
        assert server.poll() is None  # the server outlives its workers
    finally:
        answers.close()
        ours.close()  # end of input
    assert server.wait(timeout=30) == 0
    assert server.stderr is not None
    # Each worker went through Dagster's own `api execute_run`, which rejected the argument.
    assert server.stderr.read().count("not expected type") == 2
