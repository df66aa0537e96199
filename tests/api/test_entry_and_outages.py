"""`python -m deploy_platform.api` as a process, and what clients see when Redis goes away."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy_platform.processes.ports import free_port, wait_for_port
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.settings.platform import Settings
from tests.api.conftest import ApiClientFactory
from tests.api.test_refusals import refused
from tests.api.test_uploads import GZIP, SITE, tar_gz
from tests.support.environment import child_env


def api_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # DP_* only: the API reads DAGSTER_HOME.
    return child_env(("DP_",), **{"DP_STATE_DIR": str(tmp_path / "state"), **extra})


def run_api(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy_platform.api", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_dp_redis_url_it_says_what_to_set(tmp_path: Path) -> None:
    result = run_api(api_env(tmp_path))

    assert result.returncode == 2
    assert "DP_REDIS_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_redis_fails_at_start_up(tmp_path: Path) -> None:
    env = api_env(tmp_path, DP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    result = run_api(env, "--port", str(free_port()))

    assert result.returncode == 1
    assert "cannot reach Redis" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_allow_list_fails_at_start_up(tmp_path: Path, redis_server: RedisServer) -> None:
    env = api_env(tmp_path, DP_REDIS_URL=redis_server.url, DP_GIT_ALLOW_HOSTS="not a host!")

    result = run_api(env, "--port", str(free_port()))

    assert result.returncode == 1
    assert "DP_GIT_ALLOW_HOSTS" in result.stderr


def test_half_set_kv_settings_fail_at_start_up_naming_them(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    env = api_env(tmp_path, DP_REDIS_URL=redis_server.url, DP_CF_KV_DOMAINS_NAMESPACE_ID="ns8901")

    result = run_api(env, "--port", str(free_port()))

    assert result.returncode == 2
    assert "needs DP_CF_ACCOUNT_ID, DP_CF_KV_NAMESPACE_ID, DP_CF_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_process_serves_health_on_the_given_port(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    port = free_port()
    env = api_env(
        tmp_path,
        DP_REDIS_URL=redis_server.url,
        DP_REDIS_PREFIX=redis_prefix,
        DP_STORAGE_URL=(tmp_path / "objects").as_uri(),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy_platform.api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as reply:
            body: dict[str, Any] = json.loads(reply.read())
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert body["ok"] is True
    assert "local directory" in body["storage_backend"]


async def test_when_redis_goes_away_clients_get_503_not_a_traceback(
    api_for: ApiClientFactory, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    own_redis = RedisServer(tmp_path / "own-redis", persistent=False).start()
    try:
        api = await api_for(make_settings(redis_url=own_redis.url))
    finally:
        own_redis.stop()

    health = await api.get("/api/health")
    upload = await api.post("/api/deployments?project=docs", data=tar_gz(SITE), headers=GZIP)
    read = await api.get("/api/deployments/abcdefghijk2")

    assert health.status == 503
    assert (await health.json())["ok"] is False
    await refused(upload, 503, "redis_unavailable")
    await refused(read, 503, "redis_unavailable")
    # The upload's stored source was removed again: nothing half-accepted remains.
    assert not any((tmp_path / "objects" / "sources").glob("*"))
