"""End to end on PostgreSQL: `up` with DP_DAGSTER_POSTGRES_URL runs the main flow.

The same tests as `test_platform.py` (imported below, so they run here against
this module's `platform`): a site deployed over HTTP and updated, the old
version kept, a partition re-materialized from the UI, the history through
`GET /api/history` and the asset checks; plus the check that the
history is in PostgreSQL, not in SQLite under DAGSTER_HOME, and `deploy-platform gc`
beside it removes an old deployment from the edge, the API and the Dagster history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.test_platform import (  # noqa: F401 - collected again, on this platform
    test_deploy_update_and_keep_the_old_version,
    test_history_and_asset_checks_of_deployments_on_the_running_platform,
    test_rematerializing_from_the_ui_gives_the_same_deployment_and_rolls_back,
)
from tests.support.environment import TOOLCHAIN_CACHE
from tests.support.platform import RunningPlatform, start_platform
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def postgres_db(postgres_databases: Callable[[], str]) -> str:
    return postgres_databases()


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, postgres_db: str
) -> Iterator[RunningPlatform]:
    """The whole platform with its Dagster history in a PostgreSQL database of its own."""
    running = start_platform(
        tmp_path_factory.mktemp("platform-pg"),
        extra_env={
            "DP_GIT_ALLOW_HOSTS": "127.0.0.1",
            "DP_TOOL_CACHE_DIR": str(TOOLCHAIN_CACHE),
            # As people write it; `up` hands its children the psycopg2 form.
            "DP_DAGSTER_POSTGRES_URL": postgres_db,
            "DP_BUILDS_PER_PROJECT": "1",
        },
    )
    yield running
    running.stop()


def test_the_history_is_in_postgres(
    platform: RunningPlatform, postgres_db: str, git_http: Any
) -> None:
    import psycopg2

    repo = git_http.create_repo("pg-history-e2e", {"index.html": "<h1>in postgres</h1>"})
    record = platform.wait(platform.deploy(repo_url=repo.url, project="pghistory")["id"])
    assert record["status"] == "ready", record

    with psycopg2.connect(postgres_db) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM run_tags t JOIN runs r ON r.run_id = t.run_id"
            " WHERE t.key = 'dagster/partition' AND t.value = %s AND r.pipeline_name = 'deploy'",
            (record["id"],),
        )
        assert cursor.fetchone() == (1,)
        cursor.execute(
            "SELECT partition FROM dynamic_partitions WHERE partition = %s", (record["id"],)
        )
        assert cursor.fetchone() == (record["id"],)
    assert not list(platform.state_dir.glob("dagster/history/*.db"))
    assert "postgres" in (platform.state_dir / "dagster" / "dagster.yaml").read_text()


def test_gc_beside_up_removes_an_old_deployment_everywhere(
    platform: RunningPlatform, postgres_db: str, git_http: Any
) -> None:
    """`deploy-platform gc` on the running platform's state directory (run last here)."""
    import psycopg2

    repo = git_http.create_repo("gc-e2e", {"index.html": "<h1>v0</h1>"})
    ids = []
    for version in range(3):
        if version:
            repo.commit({"index.html": f"<h1>v{version}</h1>"})
        record = platform.wait(platform.deploy(repo_url=repo.url, project="gcpg")["id"])
        assert record["status"] == "ready", record
        ids.append(record["id"])
    first, previous, current = ids

    def unfinished_runs() -> int:
        # Each deploy is followed by a run of its asset checks; gc leaves a deployment with
        # a run in flight alone ("running"), so it is asked once the platform is idle.
        with psycopg2.connect(postgres_db) as connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM runs WHERE status NOT IN ('SUCCESS', 'FAILURE', 'CANCELED')"
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    eventually(
        lambda: unfinished_runs() == 0,
        timeout=180,
        interval=0.5,
        message=lambda: f"{unfinished_runs()} runs still unfinished",
    )
    done = platform.cli(
        *("gc", "--keep", "0", "--days", "0"),
        DP_STATE_DIR=str(platform.state_dir),
        DP_DAGSTER_POSTGRES_URL=postgres_db,
        DP_EDGE_SKEW_GRACE_SECONDS="0",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert first in done.stdout

    assert platform.fetch(f"{first}.localhost")[0] == 404
    status, answer = platform.api("GET", f"/api/deployments/{first}")
    assert (status, answer["error"]["code"]) == (410, "deployment_removed"), answer
    assert b"v1" in platform.fetch(f"{previous}.localhost")[2]  # the rollback target stays
    assert b"v2" in platform.fetch("gcpg.localhost")[2]
    with psycopg2.connect(postgres_db) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM dynamic_partitions WHERE partition = %s", (first,))
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT count(*) FROM run_tags t JOIN runs r ON r.run_id = t.run_id"
            " WHERE t.key = 'dagster/partition' AND t.value = %s AND r.pipeline_name = 'deploy'",
            (current,),
        )
        assert cursor.fetchone() == (1,)
