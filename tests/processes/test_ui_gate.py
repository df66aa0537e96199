"""The UI gate (processes/ui_gate.py) as a real process in front of a real HTTP server:
nothing runs behind it until someone asks, and nothing stays once nobody has for a while."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy_platform.processes.ports import free_port, wait_for_port
from deploy_platform.processes.proc import is_running
from tests.support.waiting import eventually


def _backends(gate_pid: int) -> list[int]:
    """The gate's children: the webserver it started, if any."""
    children = Path(f"/proc/{gate_pid}/task/{gate_pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


@dataclass
class Gate:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=20)


def _start_gate(tmp_path: Path, idle_seconds: float, backend: list[str]) -> Gate:
    port = free_port()
    log = open(tmp_path / "gate.log", "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deploy_platform.processes.ui_gate",
            "--port",
            str(port),
            "--idle-seconds",
            str(idle_seconds),
            "--",
            *backend,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    wait_for_port(port)
    return Gate(process, port)


def _http_server(site: Path) -> list[str]:
    """A real HTTP server serving `site`, as the gate starts it (`{port}` filled in)."""
    return [
        sys.executable,
        "-m",
        "http.server",
        "{port}",
        "--bind",
        "127.0.0.1",
        "--directory",
        str(site),
    ]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("behind the gate")
    return root


@pytest.fixture
def gate(tmp_path: Path, site: Path) -> Iterator[Gate]:
    gate = _start_gate(tmp_path, 3, _http_server(site))
    yield gate
    gate.stop()


def _get(port: int, path: str = "/index.html") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_a_probe_starts_nothing_a_request_starts_the_server_and_idleness_stops_it(
    gate: Gate,
) -> None:
    port = gate.port
    socket.create_connection(("127.0.0.1", port)).close()  # what `up` and health checks do
    time.sleep(1)
    assert _backends(gate.pid) == []

    assert _get(port) == (200, b"behind the gate")
    (first,) = _backends(gate.pid)
    assert _get(port) == (200, b"behind the gate")
    assert _backends(gate.pid) == [first]  # the same server answers the next visit

    eventually(
        lambda: not is_running(first) and _backends(gate.pid) == [],
        timeout=20,
        message="the server behind the gate still runs 3 s after the last visit",
        retry_on=(),
    )
    assert _get(port) == (200, b"behind the gate")
    (second,) = _backends(gate.pid)
    assert second != first


def test_an_open_connection_keeps_the_server_and_stopping_the_gate_stops_it(
    gate: Gate,
) -> None:
    port = gate.port
    held = socket.create_connection(("127.0.0.1", port))
    held.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while b"behind the gate" not in answer and (more := held.recv(65536)):
        answer += more  # headers and body may come in two pieces
    assert b"behind the gate" in answer
    # The server has answered; this side of the connection stays open.
    (server,) = _backends(gate.pid)
    time.sleep(6)  # twice the idle time, with a connection open all along
    assert is_running(server)
    held.close()

    assert gate.stop() == 0
    eventually(lambda: not is_running(server), timeout=10, message="server outlived its gate")


def test_a_server_that_cannot_start_gets_the_visitor_a_503_that_says_where_to_look(
    tmp_path: Path,
) -> None:
    gate = _start_gate(tmp_path, 3, [sys.executable, "-c", "raise SystemExit(3)", "{port}"])
    try:
        status, body = _get(gate.port)
        assert status == 503
        assert b"exited with code 3" in body and b"logs/webserver.log" in body
    finally:
        gate.stop()


def test_a_command_without_a_port_field_is_refused_with_what_to_write(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deploy_platform.processes.ui_gate", "--port", "1", "--", "x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "must contain {port}" in done.stderr


def test_idle_seconds_zero_starts_the_server_with_the_gate_and_keeps_it(
    tmp_path: Path, site: Path
) -> None:
    gate = _start_gate(tmp_path, 0, _http_server(site))
    try:
        (server,) = eventually(
            lambda: _backends(gate.pid), timeout=20, message="no server started with the gate"
        )
        assert _get(gate.port) == (200, b"behind the gate")
        time.sleep(3)
        assert _backends(gate.pid) == [server]
    finally:
        gate.stop()
