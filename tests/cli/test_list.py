"""`deploy-platform list`: the deployments, newest first, and what each alias serves now."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from deploy_platform import cli
from deploy_platform.cli.common import EXIT_BAD_INPUT
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.names import preview_alias, production_alias
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi

StartApi = Callable[..., RunningApi]


def deployed(
    state: PlatformState,
    project: str,
    *,
    ago: float,
    ref: str = "main",
    final: Status = Status.READY,
    live: bool = False,
    **changes: object,
) -> DeploymentRecord:
    """A record as the pipeline leaves it, queued `ago` seconds back, took 42 s."""
    deployment_id = new_deployment_id()
    production = ref == "main"
    alias = production_alias(project) if production else preview_alias(project, ref)
    queued = time.time() - ago
    record = DeploymentRecord(
        id=deployment_id,
        project=project,
        source=SourceKind.GIT,
        environment=Environment.PRODUCTION if production else Environment.PREVIEW,
        repo_url=f"https://example.com/team/{project}.git",
        ref=ref,
        commit="0123456789abcdef0123456789abcdef01234567",
        aliases=(alias,),
        urls={
            "deployment": f"http://{deployment_id}.localhost:8080/",
            "production" if production else "preview": f"http://{alias}.localhost:8080/",
        },
        timestamps={"queued": queued},
        **changes,  # type: ignore[arg-type]
    )
    state.create(record)
    state.set_status(deployment_id, Status.CLONING, at=queued + 2)
    state.set_status(deployment_id, final, at=queued + 42)
    if live:
        state.set_alias(alias, deployment_id)
    return state.get(deployment_id)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_project_s_list_marks_what_each_alias_serves(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    old = deployed(state, "docs", ago=3 * 86400, commit_message="First page")
    live = deployed(
        state,
        "docs",
        ago=2 * 3600,
        live=True,
        commit_message="Fix the header's contrast on small screens, again and again",
        commit_author="Ada Lovelace",
        trigger="webhook",
    )
    preview = deployed(state, "docs", ago=600, ref="feature/nav", live=True)
    failed = deployed(
        state, "docs", ago=30, final=Status.FAILED, error="build failed: exit status 1"
    )
    deployed(state, "blog", ago=5, live=True)

    code, out, err = run(capsys, "list", "--project", "docs", "--api", api.url)

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == [
        "AGE", "DEPLOYMENT", "STATUS", "ENV", "BRANCH", "COMMIT", "AUTHOR", "DURATION",
        "TRIGGER", "URL", "SERVING",
    ]  # fmt: skip
    rows = {line.split()[1]: line for line in lines[1:-1]}
    assert list(rows) == [failed.id, preview.id, live.id, old.id]  # newest first
    assert rows[live.id].split()[0] == "2h"
    assert "0123456 Fix the header's contrast on small scre…" in rows[live.id]
    assert "Ada Lovelace" in rows[live.id]
    assert "42.0s" in rows[live.id] and "webhook" in rows[live.id]
    assert rows[live.id].endswith(f"{live.urls['deployment']}  ● production")
    assert rows[preview.id].endswith("● preview feature-nav")
    assert "feature/nav" in rows[preview.id] and "preview" in rows[preview.id].split()
    assert rows[old.id].split()[0] == "3d"
    assert rows[old.id].rstrip().endswith(old.urls["deployment"])  # ready, not served now
    # A failed deployment offers no URL: its own answers 404, its alias serves another one.
    assert "failed" in rows[failed.id].split()
    assert "localhost" not in rows[failed.id] and "●" not in rows[failed.id]
    # The last line: the project's runs in the Dagster UI, as the UI's own filter links.
    assert lines[-1] == (
        "Dagster runs: http://127.0.0.1:3000/runs?q%5B%5D=tag%3Adeploy%2Fproject%3Ddocs"
    )


def test_without_a_project_every_project_newest_first(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    docs = deployed(state, "docs", ago=60, live=True)
    blog = deployed(state, "blog", ago=5, live=True)
    shop = deployed(state, "shop", ago=3600)

    code, out, _ = run(capsys, "list", "--api", api.url)

    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["AGE", "DEPLOYMENT", "PROJECT"]
    assert [line.split()[1:3] for line in lines[1:]] == [
        [blog.id, "blog"],
        [docs.id, "docs"],
        [shop.id, "shop"],
    ]


def test_limit_pages_through_and_json_is_the_api_s_items(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    made = [deployed(state, "docs", ago=1000 - n) for n in range(5)]

    code, out, err = run(capsys, "list", "--limit", "3", "--api", api.url)
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()[1:]] == [r.id for r in made[::-1][:3]]
    assert "3 shown; --limit N for more" in err

    code, out, _ = run(capsys, "list", "--project", "docs", "--json", "--api", api.url)
    answer = json.loads(out)
    assert [item["id"] for item in answer["deployments"]] == [r.id for r in made[::-1]]
    assert answer["next_cursor"] is None
    assert answer["dagster_runs_url"].endswith("/runs?q%5B%5D=tag%3Adeploy%2Fproject%3Ddocs")
    item = answer["deployments"][0]
    assert item["status"] == "ready" and item["duration"] == 42.0
    assert item["url"] == made[-1].urls["deployment"]


def test_an_upload_reads_unpacking_not_cloning(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    record = DeploymentRecord(
        id=new_deployment_id(),
        project="site",
        source=SourceKind.UPLOAD,
        environment=Environment.PRODUCTION,
        ref="main",
        aliases=("site",),
    )
    state.create(record)
    state.set_status(record.id, Status.CLONING)

    code, out, _ = run(capsys, "list", "--api", api.url)

    assert code == 0
    row = out.splitlines()[1].split()
    assert row[3] == "unpacking" and "cloning" not in out


def test_empty_unknown_and_bad_input(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    code, out, _ = run(capsys, "list", "--api", api.url)
    assert code == 0 and out.startswith("no deployments yet")

    code, _, err = run(capsys, "list", "--project", "nothing-here", "--api", api.url)
    assert code == EXIT_BAD_INPUT and "no project nothing-here" in err

    code, _, err = run(capsys, "list", "--project", "Not_A_Name", "--api", api.url)
    assert code == EXIT_BAD_INPUT and err.startswith("error: --project:")

    code, _, err = run(capsys, "list", "--limit", "0", "--api", api.url)
    assert code == EXIT_BAD_INPUT and "--limit must be 1 or more" in err
