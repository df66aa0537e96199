"""`python -m serve --workers N`: several processes on one port, kept running by their parent.

Which process answered a request is read from the access log (`--access-log`
names the worker's pid), and which processes listen on the port from /proc,
as an operator would check it: nothing is added to the answers for the tests.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.serve.test_main import REPO, edge_env
from tests.support.deployments import point_alias, write_deployment
from tests.support.waiting import eventually

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

_LISTENING = re.compile(r"edge-origin listening on http://([\d.]+):(\d+).*; (\d+) worker processes")
_WAIT = 30.0


class EdgeProcess:
    """The running command, its stderr collected line by line on a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = int(self.wait_for_line(_LISTENING).group(2))
        self._requests = 0

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for_line(self, pattern: re.Pattern[str], start: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + _WAIT
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    match = pattern.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    pytest.fail(f"no line matching {pattern.pattern!r} in:\n{''.join(self.lines)}")
                self._changed.wait(left)

    def get(self, host: str) -> tuple[int, bytes, int]:
        """GET / on a new connection: (status, body, pid of the worker that answered)."""
        self._requests += 1
        number = self._requests
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", f"/?n={number}", headers={"Host": host})
            response = connection.getresponse()
            status, body = response.status, response.read()
        finally:
            connection.close()
        logged = re.compile(rf'"GET /\?n={number} HTTP/1.1" (\d+) .* pid=<(\d+)>')
        return status, body, int(self.wait_for_line(logged).group(2))


def listening_pids(port: int) -> set[int]:
    """Processes with a TCP socket listening on `port` (from /proc/net/tcp and /proc/*/fd)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue  # gone, or not ours to read
        if any(f"socket:[{inode}]" in links for inode in inodes):
            pids.add(int(entry.name))
    return pids


def wait_for_listeners(port: int, count: int, without: frozenset[int] = frozenset()) -> set[int]:

    def listening() -> set[int] | None:
        pids = listening_pids(port)
        return pids if len(pids) == count and not pids & without else None

    return eventually(
        listening,
        timeout=_WAIT,
        message=lambda: f"expected {count} listeners on port {port}, found {listening_pids(port)}",
        retry_on=(),
    )


@pytest.fixture
def two_workers(
    local_store_root: Path, redis_server: RedisServer, redis_prefix: str
) -> Iterator[EdgeProcess]:
    """`python -m serve --workers 2 --port 0 --access-log`, with a 5-minute alias TTL:
    only the pub/sub announcement can make a worker see an alias move quickly."""
    env = edge_env(
        DP_STORAGE_URL=local_store_root.as_uri(),
        DP_REDIS_URL=redis_server.url,
        DP_REDIS_PREFIX=redis_prefix,
        DP_EDGE_ALIAS_TTL_SECONDS="300",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "serve", "--workers", "2", "--port", "0", "--access-log"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield EdgeProcess(process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)  # its workers get SIGTERM (parent-death signal)
            process.wait()


def answers_from(edge: EdgeProcess, host: str, pids: set[int]) -> dict[int, set[bytes]]:
    """GET over new connections until every process in `pids` answered (bodies by pid)."""
    seen: dict[int, set[bytes]] = {}
    for _ in range(400):
        status, body, pid = edge.get(host)
        assert status == 200
        seen.setdefault(pid, set()).add(body)
        if set(seen) >= pids:
            return seen
    pytest.fail(f"only {sorted(seen)} of {sorted(pids)} answered 400 new connections")


def test_two_workers_share_the_port_and_both_answer(
    two_workers: EdgeProcess, store: LocalObjectStore, state: PlatformState
) -> None:
    edge = two_workers
    workers = wait_for_listeners(edge.port, 2)
    assert edge.process.pid not in workers  # the parent only supervises

    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, {"/index.html": b"<p>one</p>"})
    seen = answers_from(edge, f"{deployment_id}.localhost", workers)
    assert seen == {pid: {b"<p>one</p>"} for pid in workers}


def test_an_alias_move_reaches_every_worker_at_once(
    two_workers: EdgeProcess, store: LocalObjectStore, state: PlatformState
) -> None:
    edge = two_workers
    workers = wait_for_listeners(edge.port, 2)
    old, new = new_deployment_id(), new_deployment_id()
    write_deployment(store, old, {"/index.html": b"old"})
    write_deployment(store, new, {"/index.html": b"new"})
    point_alias(store, state, "docs", old)
    # Both workers now hold "docs -> old" for the 300 s TTL.
    assert answers_from(edge, "docs.localhost", workers) == {pid: {b"old"} for pid in workers}

    point_alias(store, state, "docs", new)
    fresh: set[int] = set()

    def all_fresh() -> bool:
        status, body, pid = edge.get("docs.localhost")
        if body == b"new":
            fresh.add(pid)
        return fresh == workers

    # Long before the TTL: the announcement reached both.
    eventually(all_fresh, timeout=_WAIT, interval=0, message=lambda: f"fresh: {fresh}", retry_on=())


def test_a_killed_worker_is_replaced_and_sigterm_stops_them_all(
    two_workers: EdgeProcess, store: LocalObjectStore
) -> None:
    edge = two_workers
    workers = wait_for_listeners(edge.port, 2)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    edge.wait_for_line(re.compile(rf"edge worker \d \(pid {victim}\) was killed by SIGKILL"))
    replaced = wait_for_listeners(edge.port, 2, without=frozenset({victim}))
    assert replaced - workers and workers - replaced == {victim}

    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, {"/index.html": b"<p>still here</p>"})
    assert set(answers_from(edge, f"{deployment_id}.localhost", replaced)) == replaced

    edge.process.send_signal(signal.SIGTERM)
    assert edge.process.wait(timeout=_WAIT) == 0
    assert listening_pids(edge.port) == set()
    for pid in replaced:
        assert not Path(f"/proc/{pid}").exists()  # stopped, and reaped by the parent


def test_a_port_held_by_another_program_is_refused(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "serve", "--workers", "2", "--port", str(port)],
            cwd=REPO,
            env=edge_env(DP_STORAGE_URL=(tmp_path / "objects").as_uri()),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_bad_configuration_fails_once_with_several_workers(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "objects"
    not_a_directory.write_text("oops")
    result = subprocess.run(
        [sys.executable, "-m", "serve", "--workers", "3", "--port", "0"],
        cwd=REPO,
        env=edge_env(DP_STORAGE_URL=not_a_directory.as_uri()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("bad configuration") == 1
    assert "DP_STORAGE_URL" in result.stderr
