"""`deploy-platform status <id>`: the record, readable or as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from deploy_platform import cli
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi

StartApi = Callable[..., RunningApi]


def deployment(state: PlatformState, **changes: object) -> DeploymentRecord:
    deployment_id = new_deployment_id()
    record = DeploymentRecord(
        id=deployment_id,
        project="docs",
        source=SourceKind.GIT,
        environment=Environment.PRODUCTION,
        repo_url="https://example.com/owner/docs.git",
        ref="main",
        commit="0123456789abcdef0123456789abcdef01234567",
        aliases=("docs",),
        urls={
            "deployment": f"http://{deployment_id}.localhost:8080/",
            "production": "http://docs.localhost:8080/",
        },
    )
    state.create(record)
    queued_at = state.get(deployment_id).timestamps["queued"]
    state.set_status(deployment_id, Status.CLONING, at=queued_at + 0.5)
    state.set_status(deployment_id, Status.BUILDING, at=queued_at + 1.5)
    state.set_status(deployment_id, Status.PUBLISHING, at=queued_at + 2.0)
    final = Status.FAILED if "error" in changes else Status.READY
    return state.set_status(deployment_id, final, at=queued_at + 3.0, **changes)


def test_a_ready_deployment_reads_well(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    record = deployment(
        state,
        files=12,
        bytes_total=4096,
        files_uploaded=2,
        bytes_uploaded=1024,
        files_reused=10,
        bytes_reused=3072,
    )

    code = cli.main(["status", record.id, "--api", api.url])

    out = capsys.readouterr().out
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert out.splitlines()[0] == f"Deployment {record.id}"
    assert lines["status"].split()[-1] == "ready"
    assert "docs (production)" in lines["project"]
    assert "https://example.com/owner/docs.git @ main" in lines["source"]
    assert record.commit is not None and record.commit in lines["commit"]
    assert record.urls["deployment"] in out and "http://docs.localhost:8080/" in out
    assert "cloning 1.0s" in lines["stages"] and "total 3.0s" in lines["stages"]
    assert "12 files, 4.0 KiB: 2 uploaded (1.0 KiB), 10 reused (3.0 KiB)" in lines["files"]
    assert "error" not in lines


def test_a_failed_deployment_shows_its_error(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    record = deployment(state, error="clone failed: repository not found; check repo_url")

    # 1, as docs/reference/exit-codes.md says and `deploy` exits: a script can tell.
    assert cli.main(["status", record.id, "--api", api.url]) == 1

    out = capsys.readouterr().out
    assert "failed" in out
    assert "clone failed: repository not found; check repo_url" in out
    # Its own URL answers 404 and its alias serves an earlier one: none is offered.
    assert "localhost" not in out
    assert "  urls       none: the deployment failed, so nothing of it is live" in out.splitlines()

    assert cli.main(["status", record.id, "--api", api.url, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "failed"


def test_json_is_the_api_record(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    record = deployment(state, files=1, bytes_total=10)

    assert cli.main(["status", record.id, "--api", api.url, "--json"]) == 0

    answer = json.loads(capsys.readouterr().out)
    assert answer["id"] == record.id
    assert answer["status"] == "ready"
    assert answer["commit"] == record.commit
    assert answer["durations"]["total"] == 3.0


def test_an_unknown_id_exits_2(running_api: StartApi, capsys: pytest.CaptureFixture[str]) -> None:
    api = running_api()
    missing = new_deployment_id()

    assert cli.main(["status", missing, "--api", api.url]) == 2

    assert f"no deployment {missing}" in capsys.readouterr().err


def test_a_deployment_waiting_out_an_infrastructure_fault_says_what_it_waits_for(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    record = deployment(state)
    note = {
        "component": "object-store",
        "message": "waiting for the object store (s3://site); the deployment runs again once "
        "it answers",
        "error": "the object store (s3://site) did not answer: connect timeout",
        "runs_failed": 1,
        "max_runs": 4,
    }
    state.update(record.id, lambda r: r.with_status(Status.BUILDING, retrying=note))

    code = cli.main(["status", record.id, "--api", api.url])

    out = capsys.readouterr().out
    assert code == 0
    line = next(line for line in out.splitlines() if line.strip().startswith("retrying"))
    assert "waiting for the object store (s3://site)" in line
    assert "1 of 4 runs failed so far" in line
    assert "connect timeout" in line


def test_warnings_are_listed_one_per_line(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api()
    record = deployment(state, warnings=("_headers line 7: skipped: no header under /x",))

    assert cli.main(["status", record.id, "--api", api.url]) == 0

    out = capsys.readouterr().out
    warned = [line for line in out.splitlines() if line.split()[:1] == ["warnings"]]
    assert warned and warned[0].endswith("_headers line 7: skipped: no header under /x")
