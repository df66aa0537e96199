"""`up` creates the Dagster storage once before its processes open it at the same moment."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_platform.orchestration.instance.home import write_dagster_home
from deploy_platform.orchestration.instance.storage import prepare_storage
from tests.support.environment import child_env

_OPEN = "import dagster as dg; dg.DagsterInstance.get().get_run_records(limit=1)"


def versions(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]


def test_the_storage_exists_once_and_processes_opening_it_together_all_succeed(
    tmp_path: Path,
) -> None:
    home = tmp_path / "dagster"
    write_dagster_home(home, max_concurrent_runs=2)

    prepare_storage(dict(os.environ), home)

    databases = [
        home / "history" / "runs.db",
        home / "history" / "runs" / "index.db",
        home / "schedules" / "schedules.db",
    ]
    assert all(len(versions(db)) == 1 for db in databases)
    # What `up` starts next: the API, the daemon, the webserver and code servers.
    env = child_env(DAGSTER_HOME=str(home))
    openers = [
        subprocess.Popen([sys.executable, "-c", _OPEN], env=env, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [opener.communicate(timeout=120)[1] for opener in openers]
    assert [opener.returncode for opener in openers] == [0, 0, 0, 0], errors
    assert all(len(versions(db)) == 1 for db in databases)


def test_a_storage_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("run_storage: [not, a, mapping]\n")

    with pytest.raises(RuntimeError, match=f"cannot create the Dagster storage in {home}"):
        prepare_storage(dict(os.environ), home)
