"""`deploy-platform up` refuses to start, clearly, when it could not run safely."""

from __future__ import annotations

import fcntl
import socket
import subprocess
import sys
from pathlib import Path

from deploy_platform.processes.ports import free_port
from tests.support.environment import child_env


def up(
    state_dir: Path, *ports: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy_platform.cli", "up", "--state-dir", str(state_dir), *ports],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=child_env(**(env or {})),
    )


def test_a_port_in_use_is_named_with_the_flag_to_change(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = up(
            tmp_path,
            "--api-port",
            str(free_port()),
            "--edge-port",
            str(port),
            "--ui-port",
            str(free_port()),
        )
    assert done.returncode == 2
    assert f"port {port} is already in use" in done.stderr and "--edge-port" in done.stderr
    assert not (tmp_path / "redis").exists()  # nothing was started


def test_the_same_port_twice_is_refused(tmp_path: Path) -> None:
    port = str(free_port())
    done = up(tmp_path, "--api-port", port, "--edge-port", port, "--ui-port", str(free_port()))
    assert done.returncode == 2 and "the ports must differ" in done.stderr


def test_a_second_up_on_the_same_state_directory_is_refused(tmp_path: Path) -> None:
    with open(tmp_path / "up.lock", "wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = up(
            tmp_path,
            "--api-port",
            str(free_port()),
            "--edge-port",
            str(free_port()),
            "--ui-port",
            str(free_port()),
        )
    assert done.returncode == 2
    assert "another `deploy-platform up` is running" in done.stderr


def test_half_set_kv_index_settings_are_named(tmp_path: Path) -> None:
    ports = ("--api-port", str(free_port()), "--edge-port", str(free_port()))
    done = up(tmp_path, *ports, "--ui-port", str(free_port()), env={"DP_CF_ACCOUNT_ID": "acc0123"})
    assert done.returncode == 2
    assert "needs DP_CF_KV_NAMESPACE_ID, DP_CF_API_TOKEN" in done.stderr


def test_a_kv_domain_index_without_the_alias_index_is_refused(tmp_path: Path) -> None:
    ports = ("--api-port", str(free_port()), "--edge-port", str(free_port()))
    env = {"DP_CF_KV_DOMAINS_NAMESPACE_ID": "ns8901"}
    done = up(tmp_path, *ports, "--ui-port", str(free_port()), env=env)
    assert done.returncode == 2
    assert "DP_CF_KV_DOMAINS_NAMESPACE_ID adds the domain index" in done.stderr


def test_a_name_breaking_the_naming_convention_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    ports = ("--api-port", str(free_port()), "--edge-port", str(free_port()))
    naming = {"DP_CUSTOMER": "acme", "DP_PROJECT": "pages", "DP_ENVIRONMENT": "production"}
    # A Redis URL nobody listens on: `up` must refuse before it would connect or start one.
    env = {**naming, "DP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = up(tmp_path, *ports, "--ui-port", str(free_port()), env=env)
    assert done.returncode == 2
    assert "DP_ENVIRONMENT: environment 'production' must be one of prod, staging, dev" in (
        done.stderr
    )
    assert not (tmp_path / "dagster").exists()  # nothing was started


def test_a_bad_github_api_url_is_named(tmp_path: Path) -> None:
    ports = ("--api-port", str(free_port()), "--edge-port", str(free_port()))
    done = up(
        tmp_path,
        *ports,
        "--ui-port",
        str(free_port()),
        env={"DP_GITHUB_API_URL": "ghe.example.com/api/v3", "DP_GITHUB_TOKEN": "t"},
    )
    assert done.returncode == 2
    assert "DP_GITHUB_API_URL 'ghe.example.com/api/v3' is not an http(s) URL" in done.stderr


def test_an_unreachable_dagster_postgres_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    ports = ("--api-port", str(free_port()), "--edge-port", str(free_port()))
    url = f"postgresql://dagster:s3cret@127.0.0.1:{free_port()}/dagster"
    env = {"DP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "DP_DAGSTER_POSTGRES_URL": url}
    done = up(tmp_path, *ports, "--ui-port", str(free_port()), env=env)
    assert done.returncode == 2
    assert "cannot connect to DP_DAGSTER_POSTGRES_URL='postgresql://dagster:***@127.0.0.1" in (
        done.stderr
    )
    assert "s3cret" not in done.stderr
    assert not (tmp_path / "dagster").exists()  # nothing was started


def test_builds_per_project_above_the_total_is_refused(tmp_path: Path) -> None:
    ports = ("--api-port", str(free_port()), "--edge-port", str(free_port()))
    env = {
        "DP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "DP_BUILDS_PER_PROJECT": "8",
    }
    done = up(tmp_path, *ports, "--ui-port", str(free_port()), env=env)
    assert done.returncode == 2
    assert "DP_BUILDS_PER_PROJECT=8 is more than DP_MAX_CONCURRENT_BUILDS=4" in done.stderr
