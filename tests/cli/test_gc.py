"""`deploy-platform gc`: what a person runs beside `up`, on its state directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy_platform import cli
from deploy_platform.contracts.manifest import alias_key
from deploy_platform.orchestration.instance.home import write_dagster_home
from deploy_platform.processes.private_redis import REDIS_URL_FILE
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.retention.support import gone, make_deployment, serves_everything
from tests.support.deployments import point_alias
from tests.support.environment import PlatformEnv


@pytest.fixture
def platform_dir(
    tmp_path: Path, platform_env: PlatformEnv, redis_server: RedisServer, state: PlatformState
) -> Path:
    """A state directory as `up` leaves it: objects, DAGSTER_HOME, the Redis URL file."""
    platform_env.clear()
    platform_env.set(DP_REDIS_PREFIX=state.prefix)
    write_dagster_home(tmp_path / "dagster")
    (tmp_path / REDIS_URL_FILE).parent.mkdir()
    (tmp_path / REDIS_URL_FILE).write_text(redis_server.url + "\n")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["gc", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_then_gc(
    platform_dir: Path, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalObjectStore(platform_dir / "objects")
    old = make_deployment(store, state, "docs", {"/index.html": b"<h1>old</h1>"}, days_ago=90)
    live = make_deployment(store, state, "docs", {"/index.html": b"<h1>live</h1>"}, days_ago=80)
    point_alias(store, state, "docs", live.id)
    young = make_deployment(store, state, "docs", {"/index.html": b"<h1>new</h1>"}, days_ago=1)
    state_dir = ("--state-dir", str(platform_dir))

    code, out, _ = run(
        capsys, "--dry-run", "--keep", "0", "--days", "7", "--format", "json", *state_dir
    )
    assert code == 0
    report = json.loads(out)
    assert report["dry_run"] is True
    assert [r["id"] for r in report["removed"]] == [old.id]
    assert report["removed"][0]["project"] == "docs" and report["removed"][0]["bytes"] > 0
    assert serves_everything(store, old.id)

    code, out, _ = run(capsys, "--keep", "0", "--days", "7", *state_dir)
    assert code == 0
    assert "Removed 1 deployment (" in out and old.id in out
    assert "Kept 2: 1 needed by aliases" in out
    assert gone(store, old.id)
    assert serves_everything(store, live.id) and serves_everything(store, young.id)
    assert store.exists(alias_key("docs"))


def test_defaults_come_from_the_environment(
    platform_dir: Path,
    state: PlatformState,
    platform_env: PlatformEnv,
    capsys: pytest.CaptureFixture[str],
) -> None:
    platform_env.set(DP_RETAIN_PER_BRANCH="3", DP_RETAIN_DAYS="14")
    code, out, _ = run(capsys, "--dry-run", "--state-dir", str(platform_dir))
    assert code == 0
    assert "keep the newest 3 per project and branch, everything younger than 14 days" in out
    assert "Would remove 0 deployments" in out and "Nothing was removed (--dry-run)." in out


def test_without_redis_it_says_where_it_looked(
    tmp_path: Path, platform_env: PlatformEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    platform_env.unset("DP_REDIS_URL")
    code, _, err = run(capsys, "--dry-run", "--state-dir", str(tmp_path))
    assert code == 2
    assert (
        f"no Redis: set DP_REDIS_URL, or run `deploy-platform up` with state directory {tmp_path}"
        in err
    )


def test_without_a_dagster_instance_it_says_how_to_get_one(
    platform_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (platform_dir / "dagster" / "dagster.yaml").unlink()
    code, _, err = run(capsys, "--dry-run", "--state-dir", str(platform_dir))
    assert code == 2 and "no Dagster instance at" in err and "set DAGSTER_HOME" in err


@pytest.mark.parametrize(("flag", "value"), [("--keep", "-1"), ("--days", "nan"), ("--keep", "x")])
def test_bad_numbers_are_refused(
    flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, flag, value, "--state-dir", str(tmp_path))
    assert code == 2 and flag in err
