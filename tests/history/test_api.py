"""`GET /api/history` over a real control API and a real Dagster instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.history.rows import COLUMNS
from deploy_platform.settings.platform import Settings
from tests.orchestration.support import unique
from tests.support.api_fixtures import RunningApi, make_settings, running_api  # noqa: F401


def get(api: RunningApi, query: str = "") -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{api.url}/api/history{query}", timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def history_api(
    running_api: Callable[..., RunningApi],  # noqa: F811
    instance: dg.DagsterInstance,
) -> RunningApi:
    """The control API reading the test's Dagster instance (as DAGSTER_HOME would say)."""
    return running_api(dagster_home=Path(instance.root_directory))


def test_pages_follow_each_other_newest_first_and_filters_apply(
    history_api: RunningApi, deploy_app: Callable[..., DeploymentRecord]
) -> None:
    docs, shop = unique("docs"), unique("shop")
    first = deploy_app(project=docs)
    failed = deploy_app({".env": "nothing to publish"}, project=docs)
    preview = deploy_app(project=shop, ref="feature/cart")
    last = deploy_app(project=docs)

    status, everything = get(history_api)
    assert status == 200
    assert [row["id"] for row in everything["deployments"]] == [
        last.id,
        preview.id,
        failed.id,
        first.id,
    ]
    assert everything["total"] == everything["count"] == 4
    assert everything["next_cursor"] is None
    row = everything["deployments"][0]
    assert list(row) == list(COLUMNS)
    assert row["enqueued"].endswith("Z") and isinstance(row["files"], int)
    assert isinstance(row["source_storage_id"], int) and row["archived"] is False

    seen: list[str] = []
    cursor = ""
    while True:
        status, page = get(history_api, f"?limit=1{cursor}")
        assert status == 200 and page["count"] == 1 and page["total"] == 4
        seen.extend(row["id"] for row in page["deployments"])
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [row["id"] for row in everything["deployments"]]

    _, of_docs = get(history_api, f"?project={docs}")
    assert [row["id"] for row in of_docs["deployments"]] == [last.id, failed.id, first.id]
    assert [row["status"] for row in of_docs["deployments"]] == ["ready", "failed", "ready"]
    _, of_branch = get(history_api, "?branch=feature%2Fcart")
    assert [row["id"] for row in of_branch["deployments"]] == [preview.id]
    _, future = get(history_api, "?since=2999-01-01")
    assert future["deployments"] == [] and future["total"] == 0
    _, recent = get(history_api, "?since=1h&limit=2")
    assert recent["total"] == 4 and recent["count"] == 2 and recent["next_cursor"]


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("?project=Not_A_Project", "invalid_project", "project"),
        ("?since=last+tuesday", "invalid_since", "since"),
        ("?limit=0", "invalid_limit", "limit"),
        ("?limit=ten", "invalid_limit", "limit"),
        ("?limit=5000", "invalid_limit", "limit"),
        ("?cursor=not-a-cursor", "invalid_cursor", "cursor"),
        ("?branch=a%00b", "invalid_branch", "branch"),
        ("?limit=1&limit=2", "invalid_limit", "limit"),
        ("?page=2", "invalid_page", "page"),
    ],
)
def test_bad_parameters_get_a_400_that_says_what_to_fix(
    history_api: RunningApi, query: str, code: str, field: str
) -> None:
    status, answer = get(history_api, query)

    assert status == 400
    assert answer["error"]["code"] == code and answer["error"]["field"] == field
    assert answer["error"]["message"]


def test_without_a_dagster_instance_the_history_is_503_and_the_rest_works(
    running_api: Callable[..., RunningApi],  # noqa: F811
    tmp_path: Path,
) -> None:
    api = running_api(dagster_home=tmp_path / "no-dagster-here")

    status, answer = get(api)

    assert status == 503
    assert answer["error"]["code"] == "history_unavailable"
    assert "DAGSTER_HOME" in answer["error"]["message"]
    with urllib.request.urlopen(f"{api.url}/api/health", timeout=30) as response:
        assert response.status == 200


def test_a_rollback_shows_as_the_trigger_of_the_deployment_it_went_back_to(
    history_api: RunningApi, deploy_app: Callable[..., DeploymentRecord]
) -> None:
    docs = unique("docs")
    older = deploy_app(project=docs)
    newer = deploy_app(project=docs)
    _, before = get(history_api, f"?project={docs}")  # the move log was just listed
    assert {row["trigger"] for row in before["deployments"]} == {"api"}
    request = urllib.request.Request(
        f"{history_api.url}/api/projects/{docs}/rollback",
        data=json.dumps({"deployment": older.id}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200

    # At once: the API lists the move log again after a rollback it made.
    _, page = get(history_api, f"?project={docs}")

    triggers = {row["id"]: row["trigger"] for row in page["deployments"]}
    assert triggers == {older.id: "rollback", newer.id: "api"}


_LAZY_HISTORY = """
import asyncio, json, sys
from pathlib import Path
from aiohttp import web, ClientSession
from deploy_platform.api import create_app
from deploy_platform.settings.platform import Settings

async def main():
    fields = json.loads(sys.argv[1])
    for name in ("state_dir", "dagster_home"):
        fields[name] = Path(fields[name])
    settings = Settings(**fields)
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = "http://127.0.0.1:%d" % runner.addresses[0][1]
    headers = {"Authorization": "Bearer " + settings.api_token} if settings.api_token else {}
    async with ClientSession(headers=headers) as http:
        async with http.get(url + "/api/health") as health:
            await health.read()
        await asyncio.sleep(2)  # what a background task at start would have done by now
        print(json.dumps(sorted({"dagster", "pandas"} & set(sys.modules))))
        async with http.get(url + "/api/history") as answer:
            rows = (await answer.json())["deployments"]
        print(json.dumps([row["id"] for row in rows]))
        print(json.dumps(sorted({"dagster", "pandas"} & set(sys.modules))))
    await runner.cleanup()

asyncio.run(main())
"""


def test_the_api_imports_dagster_and_pandas_on_the_first_history_request_only(
    make_settings: Callable[..., Settings],  # noqa: F811
    instance: dg.DagsterInstance,
    deploy_app: Callable[..., DeploymentRecord],
) -> None:
    """A started, healthy API over an instance with history holds neither (~140 MB):
    they are imported when someone asks for the history, which then answers in full."""
    done = deploy_app(project=unique("lazy"))
    settings = make_settings(dagster_home=Path(instance.root_directory))
    fields = {
        "state_dir": str(settings.state_dir),
        "redis_url": settings.redis_url,
        "redis_prefix": settings.redis_prefix,
        "storage_url": settings.storage_url,
        "dagster_home": str(settings.dagster_home),
        "api_token": settings.api_token,
    }
    repo = Path(__file__).resolve().parents[2]
    ran = subprocess.run(
        [sys.executable, "-c", _LAZY_HISTORY, json.dumps(fields)],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=180,
    )
    assert ran.returncode == 0, ran.stderr
    before, ids, after = (json.loads(line) for line in ran.stdout.strip().splitlines()[-3:])
    assert before == []
    assert ids == [done.id]
    assert after == ["dagster", "pandas"]


def test_the_control_api_and_the_command_start_without_importing_dagster_or_pandas() -> None:
    """Regression guard: both are imported on the first history request, not at start."""
    code = (
        "import sys, deploy_platform.api.app, deploy_platform.cli; "
        "deploy_platform.cli.build_parser(); "
        "print(sorted({'dagster', 'pandas', 'matplotlib'} & set(sys.modules)))"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
