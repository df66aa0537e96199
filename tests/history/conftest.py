"""Real deployments on a real Dagster instance, and the history read back from its records.

The Dagster fixtures (`instance`, `store`, `resources`, `deployer`) are those of
tests/orchestration: the real assets, a private Redis, a local object store, real git.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.history.service import HistoryService
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration import conftest as dagster_fixtures
from tests.orchestration.support import Deployer, queue_git, unique

__all__ = ["STATIC_SITE", "app_files"]

# The Dagster fixtures, shared with tests/orchestration.
instance = dagster_fixtures.instance
store = dagster_fixtures.store
resources = dagster_fixtures.resources
deployer = dagster_fixtures.deployer

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "apps"


def app_files(name: str) -> dict[str, str]:
    """A fixture app's files (tests/fixtures/apps/<name>), path -> text."""
    root = APPS / name
    return {
        path.relative_to(root).as_posix(): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


STATIC_SITE = app_files("static-site")


@pytest.fixture
def history_rows(
    instance: dg.DagsterInstance, store: ObjectStore
) -> Callable[[], dict[str, dict[str, Any]]]:
    """Read the history as the API does (a fresh service each time): id -> row."""

    def read() -> dict[str, dict[str, Any]]:
        frame = HistoryService(instance, store).frame()
        return {str(row["id"]): row for row in frame.to_dict(orient="records")}

    return read


@pytest.fixture
def deploy_app(
    git_http: Any, deployer: Deployer, state: PlatformState
) -> Callable[..., DeploymentRecord]:
    """Deploy files from a new repository through the real deploy job; the record."""

    def deploy(
        files: dict[str, str] | None = None, project: str | None = None, ref: str = "main"
    ) -> DeploymentRecord:
        repo = git_http.create_repo(unique("app"), files if files is not None else STATIC_SITE)
        if ref != "main":
            repo.commit({"branch.txt": ref}, branch=ref)
        record = queue_git(state, repo, project or unique("site"), ref=ref)
        deployer.run(record.id)
        return record

    return deploy
