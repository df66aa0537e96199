"""The code server `up` runs: its command line, and that it answers once the definitions loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy_platform.orchestration.instance.code_server import (
    CODE_LOCATION,
    CODE_SERVER_THREADS,
    code_server_argv,
    code_server_ready,
    project_root,
)
from deploy_platform.processes.ports import free_port, restartable_port
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.redis_state import PlatformState
from tests.support.environment import PlatformEnv, child_env, code_location_env
from tests.support.waiting import eventually


@pytest.fixture
def location_env(
    platform_env: PlatformEnv,
    redis_server: RedisServer,
    state: PlatformState,
    local_store_root: Path,
) -> dict[str, str]:
    """Every variable the code location reads, set the way `up` sets them (some empty)."""
    env = code_location_env(redis_server.url, state.prefix, local_store_root.as_uri())
    platform_env.set(**env)
    return env


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_the_argv_serves_the_definitions_on_loopback_without_heartbeat() -> None:
    argv = code_server_argv(24680)

    assert argv[:5] == [sys.executable, "-m", "dagster", "api", "grpc"]
    assert _option(argv, "--module-name") == "deploy_platform.definitions"
    assert _option(argv, "--host") == "127.0.0.1"
    assert _option(argv, "--port") == "24680"
    assert _option(argv, "--location-name") == CODE_LOCATION == "deploy_platform"
    assert int(_option(argv, "--max-workers")) == CODE_SERVER_THREADS >= 16
    working_directory = Path(_option(argv, "--working-directory"))
    assert working_directory == project_root()
    assert (working_directory / "deploy_platform" / "definitions.py").exists()
    # Lives until `up` stops it: no heartbeat, so it never shuts itself down.
    assert not [arg for arg in argv if arg.startswith("--heartbeat")]
    assert code_server_argv(24680, "/opt/python")[0] == "/opt/python"


def test_a_restartable_port_avoids_the_ports_given() -> None:
    taken = {free_port() for _ in range(3)}
    for _ in range(20):
        assert restartable_port(avoid=taken) not in taken


@pytest.mark.slow
def test_the_code_server_answers_once_started_and_not_after(
    location_env: dict[str, str], tmp_path: Path
) -> None:
    port = restartable_port()
    assert not code_server_ready(port)
    server = subprocess.Popen(
        code_server_argv(port),
        cwd=tmp_path,  # not the checkout: --working-directory finds the package
        env=child_env(**location_env, DAGSTER_HOME=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        eventually(
            lambda: code_server_ready(port) or server.poll() is not None,
            timeout=120,
            message="the code server listening",
        )
        assert server.poll() is None, server.communicate()[0].decode(errors="replace")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert not code_server_ready(port), output
