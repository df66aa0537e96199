"""A hostile build against the real runner: every way out it tries must fail behind the
isolation boundary, while a normal app still installs from the registry and builds.

The targets are real: a fake state directory with an API token and a Redis URL file,
a real HTTP server standing in for the control API and a real Redis, both on loopback,
another project's source, DAGSTER_HOME, the platform's own /proc entry and an open
descriptor of the platform. Only loopback is ever connected to; private addresses are
checked with a UDP connect(), which looks the route up and sends nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deploy_platform.build import isolation
from deploy_platform.build.netns import machine_addresses
from deploy_platform.build.runner import BuildRequest, BuildResult, run_build
from deploy_platform.build.sandbox import Limits
from deploy_platform.build.settings import BuildSettings
from deploy_platform.processes.ports import free_port
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.local import LocalObjectStore
from tests.support.environment import TOOLCHAIN_CACHE, PlatformEnv

pytestmark = pytest.mark.slow

APPS = Path(__file__).parents[1] / "fixtures" / "apps"
TOKEN = "platform-api-token-never-for-builds"
#: Private and link-local addresses (metadata service included) a build must have no
#: route to; only looked up by UDP connect(), never sent to.
PRIVATE_HOSTS = ("10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1")


class _FakeApi(BaseHTTPRequestHandler):
    """Answers like the control API: the projects for the right token, 401 otherwise."""

    def do_GET(self) -> None:  # noqa: N802 (the http.server hook's name)
        ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        body = b'{"projects": ["secret-site"]}' if ok else b'{"error": "unauthorized"}'
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def api_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@dataclass(frozen=True)
class Platform:
    state_dir: Path
    objects: Path
    other_project_file: Path
    targets: dict[str, Any]


@pytest.fixture
def platform(tmp_path: Path, api_port: int, redis_server: RedisServer) -> Platform:
    """A state directory as `up` lays it out, and what a build would attack in it."""
    state = tmp_path / "state"
    (state / "run").mkdir(parents=True)
    (state / "objects").mkdir()
    (state / "dagster").mkdir()
    (state / "dagster" / "dagster.yaml").write_text("run_storage: {}\n")
    token = state / "api-token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    (state / "run" / "redis.url").write_text(redis_server.url + "\n")
    other = tmp_path / "other-project" / "src"
    other.mkdir(parents=True)
    (other / "secrets.env").write_text("OTHER_PROJECT_SECRET=swordfish\n")
    environ = Path("/proc/self/environ").read_bytes().split(b"\0")[0].decode("latin1")
    registry = socket.gethostbyname("registry.npmjs.org")
    targets = {
        "state_dir": str(state),
        "token_file": str(token),
        "redis_url_file": str(state / "run" / "redis.url"),
        "objects_dir": str(state / "objects"),
        "dagster_home": str(state / "dagster"),
        "other_project_file": str(other / "secrets.env"),
        "platform_pid": os.getpid(),
        "environ_marker": environ,
        "api_port": api_port,
        "redis_port": redis_server.port,
        "blocked_hosts": [*PRIVATE_HOSTS, *sorted(machine_addresses())],
        "public_host": registry,
        # Only behind the boundary: without it this would edit the machine's own routes.
        "try_route_removal": True,
    }
    return Platform(state, state / "objects", other / "secrets.env", targets)


def _reachable_from_here(platform: Platform) -> None:
    """The targets are really there for the platform: a blocked probe means a boundary."""
    with socket.create_connection(("127.0.0.1", platform.targets["api_port"]), timeout=5):
        pass
    with socket.create_connection(("127.0.0.1", platform.targets["redis_port"]), timeout=5) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(16).startswith(b"+PONG")
    assert platform.other_project_file.read_text().startswith("OTHER_PROJECT_SECRET")


def _hostile_build(
    tmp_path: Path, platform: Platform, lines: list[str], variables: dict[str, str] | None = None
) -> tuple[BuildResult, dict[str, dict[str, str]]]:
    source = tmp_path / "work" / "src"
    shutil.copytree(APPS / "hostile-build", source)
    (source / "targets.json").write_text(json.dumps(platform.targets))
    # An open descriptor of the platform's, inheritable on purpose: the build must not get it.
    leak = os.open(platform.state_dir / "api-token", os.O_RDONLY)
    os.set_inheritable(leak, True)
    try:
        outcome = run_build(
            source,
            BuildRequest(project="hostile", settings=BuildSettings(env=variables or {})),
            store=LocalObjectStore(platform.objects),
            tool_cache=TOOLCHAIN_CACHE,
            limits=Limits(wall_seconds=120),
            log=lines.append,
            output=lines.append,
        )
    finally:
        os.close(leak)
    return outcome, json.loads((outcome.output_dir / "escape.json").read_text())


def _require_isolation() -> None:
    status = isolation.current()
    if status.isolated:
        return
    if os.geteuid() == 0 and isolation.mode_from_env() is not isolation.Mode.OFF:
        pytest.fail(
            f"root should isolate builds here (scripts/setup.sh installs the tools): "
            f"{status.describe()}"
        )
    pytest.skip(status.describe())


PROBES = (
    "read_token",
    "read_redis_url",
    "read_other_project",
    "read_dagster_home",
    "write_objects",
    "read_platform_proc",
    "inherited_fds",
    "call_api_loopback",
    "call_api_via_gateway",
    "redis_loopback",
    "redis_via_gateway",
    "remove_blocked_route",
)


def test_a_hostile_build_escapes_nothing(tmp_path: Path, platform: Platform) -> None:
    _require_isolation()
    _reachable_from_here(platform)
    lines: list[str] = []
    # A CA file setting among the project's variables must not make the token visible.
    variables = {"SSL_CERT_FILE": platform.targets["token_file"]}
    outcome, results = _hostile_build(tmp_path, platform, lines, variables)

    routes = [f"route_to_{host}" for host in platform.targets["blocked_hosts"]]
    escaped = {
        name: result
        for name, result in results.items()
        if result["outcome"] != "blocked" and name != "route_to_public"
    }
    assert escaped == {}, "\n".join(lines)
    assert set(results) >= {*PROBES, *routes, "route_to_public"}
    # The control: a public address (the registry's) is routed, so "no route" above
    # is the boundary, not a build without any network.
    assert results["route_to_public"]["outcome"] == "escaped", results["route_to_public"]
    assert not (platform.objects / "planted-by-build").exists()
    assert outcome.metadata["build_isolation"] == "on"
    assert not any("WARNING: build isolation" in line for line in lines)


@pytest.mark.network
def test_a_normal_app_installs_from_the_registry_and_builds_behind_the_same_boundary(
    tmp_path: Path,
) -> None:
    _require_isolation()
    source = tmp_path / "src"
    shutil.copytree(APPS / "pnpm-marked", source)
    lines: list[str] = []
    outcome = run_build(
        source,
        # clean: nothing from a cache, so the install really downloads from the registry.
        BuildRequest(project="normal", settings=_clean()),
        store=LocalObjectStore(tmp_path / "objects"),
        tool_cache=TOOLCHAIN_CACHE,
        limits=Limits(wall_seconds=600),
        log=lines.append,
        output=lines.append,
    )
    assert outcome.metadata["build_isolation"] == "on"
    assert not outcome.metadata["install_skipped"]
    assert "<h1>Built with pnpm</h1>" in (outcome.output_dir / "index.html").read_text()
    # The platform (root or not) still owns what it must clean up and pack.
    shutil.rmtree(source)


def _clean() -> BuildSettings:
    return BuildSettings(clean=True)


def test_without_isolation_the_same_build_escapes_and_the_log_says_so_loudly(
    tmp_path: Path, platform: Platform, platform_env: PlatformEnv
) -> None:
    # What the boundary is for: with it off, this build takes the platform's token,
    # reaches its API and Redis, and writes its objects; and the log shouts it.
    platform_env.set(DP_BUILD_ISOLATION="off")
    platform.targets["try_route_removal"] = False
    lines: list[str] = []
    outcome, results = _hostile_build(tmp_path, platform, lines)

    for probe in ("read_token", "call_api_loopback", "redis_loopback", "write_objects"):
        assert results[probe]["outcome"] == "escaped", results[probe]
    assert results["call_api_loopback"]["detail"] == "HTTP 200"
    assert (platform.objects / "planted-by-build").read_text() == "owned"
    warnings = [line for line in lines if "WARNING: build isolation OFF" in line]
    # In the milestones and in each command's own output (install, build).
    assert len(warnings) >= 3, lines
    assert "Unset DP_BUILD_ISOLATION" in warnings[0]
    assert outcome.metadata["build_isolation"].startswith("WARNING")
