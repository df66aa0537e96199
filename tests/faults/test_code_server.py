"""`deploy-platform up` runs one Dagster code server, shared by the daemon and the UI.

Neither the daemon nor the webserver spawns a code server of its own (workspace.yaml
names a `grpc_server`); `kill -9` of the code server is survived: the supervisor starts
it again on the same port, the daemon and the UI reconnect by themselves, and a
deployment enqueued afterwards is built and served.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import yaml

from deploy_platform.orchestration.instance.code_server import code_server_ready
from tests.faults.up_process import descendants, pid_files, processes_of, running, upload
from tests.support.environment import TOOLCHAIN_CACHE
from tests.support.platform import start_platform
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

_CODE_SERVER = "api grpc"


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _code_servers(pids: list[int]) -> list[int]:
    return [pid for pid in pids if running(pid) and _CODE_SERVER in _command(pid)]


def _workspace_port(state: Path) -> int:
    workspace = yaml.safe_load((state / "dagster" / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    return int(location["grpc_server"]["port"])


def _assert_one_shared_code_server(up_pid: int, daemon: int, webserver: int) -> int:
    """The code server's pid: the only one under `up`, none under the daemon or the UI."""
    servers = _code_servers(descendants(up_pid))
    assert len(servers) == 1, {pid: _command(pid) for pid in servers}
    assert not _code_servers(descendants(daemon)), "the daemon spawned a code server"
    assert not _code_servers(descendants(webserver)), "the webserver spawned a code server"
    return servers[0]


def test_one_code_server_is_shared_and_comes_back_on_its_port_after_kill_9(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    platform = start_platform(state, extra_env={"DP_TOOL_CACHE_DIR": str(TOOLCHAIN_CACHE)})
    try:
        port = _workspace_port(state)
        assert code_server_ready(port)
        daemon, webserver = platform.pid("daemon"), platform.pid("webserver")

        before = upload(platform, tmp_path, "before", {"index.html": "<h1>before</h1>"})
        assert platform.wait(before)["status"] == "ready"
        # The daemon has ticked and launched a run by now: still no code server of its own.
        server = _assert_one_shared_code_server(platform.process.pid, daemon, webserver)
        assert server == platform.pid("code-server")
        assert str(port) in _command(server)

        os.kill(server, signal.SIGKILL)

        def restarted() -> int | None:
            pid = pid_files(state).get("code-server")
            if pid is None or pid == server or not running(pid) or not code_server_ready(port):
                return None
            return pid

        again = eventually(
            restarted,
            timeout=120,
            message=lambda: f"the code server back on port {port}; up's log:\n{platform.log()}",
        )
        assert _workspace_port(state) == port
        # The daemon and the UI were not restarted: they reconnect to the new server.
        assert (platform.pid("daemon"), platform.pid("webserver")) == (daemon, webserver)

        after = upload(platform, tmp_path, "after", {"index.html": "<h1>after</h1>"})
        record = platform.wait(after, timeout=240)
        assert record["status"] == "ready", record
        assert b"after" in platform.fetch("after.localhost", "/")[2]
        assert _assert_one_shared_code_server(platform.process.pid, daemon, webserver) == again
    finally:
        code = platform.stop()
    assert code == 0, platform.log()
    assert not processes_of(state)
    assert "code-server" not in pid_files(state)
