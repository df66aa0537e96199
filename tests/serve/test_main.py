"""`python -m serve` as a user runs it, and the edge's promise never to import dagster."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.deployments import point_alias, write_deployment
from tests.support.environment import child_env

REPO = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"edge-origin listening on http://([\d.]+):(\d+)")


def edge_env(**values: str) -> dict[str, str]:
    """The parent's environment minus the platform's variables, plus `values`."""
    return child_env(**{"PYTHONPATH": str(REPO), **values})


def run_serve(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serve", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_describes_the_command_and_its_settings() -> None:
    result = run_serve("--help", env=edge_env())
    assert result.returncode == 0
    for text in ("--host", "--port", "DP_STORAGE_URL", "DP_REDIS_URL", "DP_BASE_DOMAIN"):
        assert text in result.stdout
    assert "DP_EDGE_ALIAS_TTL_SECONDS" in result.stdout
    assert "DP_EDGE_MANIFEST_CACHE_BYTES" in result.stdout
    assert "--workers" in result.stdout and "DP_EDGE_ANSWER_CACHE_BYTES" in result.stdout


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("DP_STORAGE_URL", "ftp://example.com/objects", "DP_STORAGE_URL"),
        ("DP_EDGE_ALIAS_TTL_SECONDS", "soon", "DP_EDGE_ALIAS_TTL_SECONDS"),
        ("DP_EDGE_BODY_CACHE_BYTES", "-1", "DP_EDGE_BODY_CACHE_BYTES"),
        ("DP_EDGE_MANIFEST_CACHE_BYTES", "32MB", "DP_EDGE_MANIFEST_CACHE_BYTES"),
        ("DP_BASE_DOMAIN", "bad_domain", "DP_BASE_DOMAIN"),
        ("DP_REDIS_URL", "http://127.0.0.1:1/0", "DP_REDIS_URL"),
    ],
)
def test_bad_configuration_fails_at_start_up(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    env = edge_env(**{"DP_STORAGE_URL": (tmp_path / "objects").as_uri(), setting: value})
    result = run_serve("--port", "0", env=env)
    assert result.returncode == 2, result.stderr
    assert "bad configuration" in result.stderr and named in result.stderr


def test_a_storage_path_that_is_a_file_fails_at_start_up(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "objects"
    not_a_directory.write_text("oops")
    result = run_serve("--port", "0", env=edge_env(DP_STORAGE_URL=not_a_directory.as_uri()))
    assert result.returncode == 2
    assert "cannot" in result.stderr and "DP_STORAGE_URL" in result.stderr


@pytest.fixture
def running_edge(
    local_store_root: Path, redis_server: RedisServer, redis_prefix: str
) -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    """`python -m serve --port 0` on the test's store and Redis: (process, port, first log line)."""
    env = edge_env(
        DP_STORAGE_URL=local_store_root.as_uri(),
        DP_REDIS_URL=redis_server.url,
        DP_REDIS_PREFIX=redis_prefix,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "serve", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = _LISTENING.search(line)
        assert match, f"unexpected first log line: {line!r}"
        yield process, int(match.group(2)), line
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_command_serves_sites_and_stops_on_sigint(
    running_edge: tuple[subprocess.Popen[str], int, str],
    store: LocalObjectStore,
    state: PlatformState,
) -> None:
    process, port, line = running_edge
    assert "*.localhost" in line and "redis" in line
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, {"/index.html": b"<p>live</p>"})
    point_alias(store, state, "docs", deployment_id)

    for host in (f"{deployment_id}.localhost:{port}", f"docs.localhost:{port}"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"<p>live</p>")
        connection.close()

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


def test_the_edge_never_imports_dagster() -> None:
    code = (
        "import sys\n"
        "import serve, serve.app, serve.__main__\n"
        "from deploy_platform.storage import open_store\n"
        "import deploy_platform.storage.s3\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dagster', 'dagster_aws', 'dagster_webserver'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=edge_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
