"""A deployment's build log, from real Dagster runs: `GET /api/deployments/<id>/logs`,
`deploy-platform logs` (finished and followed) and what a failed `deploy` prints.

The runs are real runs of the deploy job on a real instance; the build runner is a
`BuildRunnerResource` of these tests that prints numbered lines on stdout as the real
one prints a build's output, and can wait for a gate file, so a build is caught while
it runs. The command runs as its own process, as a person runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from deploy_platform.contracts.errors import BuildFailed
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.progress import Progress, no_progress
from deploy_platform.contracts.records import DeploymentRecord, SourceKind, Status
from deploy_platform.history.report import render_rows
from deploy_platform.history.service import HistoryService
from deploy_platform.orchestration.resources.build_runner import (
    BuildLog,
    BuildRequest,
    BuildResult,
    BuildRunnerResource,
    find_static_output,
)
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import STREAM_START, PlatformState
from tests.history.conftest import STATIC_SITE
from tests.orchestration.support import Deployer, make_record, queue_git, unique
from tests.support.api_fixtures import RunningApi, make_settings, running_api  # noqa: F401
from tests.support.waiting import eventually

UI = "http://dagster.example:3000"
ROOT = Path(__file__).resolve().parents[2]


class NumberedBuild(BuildRunnerResource):
    """Prints `lines` numbered lines on stdout (every 7th a long one); with `gate`, the
    first `before_gate` lines, then waits for that file; with `fail`, fails as a build
    command does, its message ending with the last lines."""

    lines: int = 5
    fail: bool = False
    gate: str = ""
    before_gate: int = 0
    trailer: str = ""  # printed last, without a newline

    def build(
        self,
        source_dir: Path,
        log: BuildLog,
        request: BuildRequest | None = None,
        store: ObjectStore | None = None,
        progress: Progress = no_progress,
    ) -> BuildResult:
        log("numbered build: starting")
        for number in range(1, self.lines + 1):
            if self.gate and number == self.before_gate + 1:
                _wait_for(Path(self.gate))
            print(_line(number), flush=True)
        if self.trailer:
            print(self.trailer, end="", flush=True)
        if self.fail:
            raise BuildFailed(
                "build failed: `npm run build` exited with 1. Last lines:\n"
                + "\n".join(_line(n) for n in range(max(self.lines - 2, 1), self.lines + 1))
            )
        output = find_static_output(source_dir)
        return BuildResult(output, "static", None, "numbered", "", 0.0)


def _line(number: int) -> str:
    body = "x" * 300 if number % 7 == 0 else "output"
    return f"line {number:03d} {body} end"


def _wait_for(gate: Path) -> None:
    # The test opens the gate once it has seen the first lines; the bound only keeps a
    # broken test from hanging the run.
    deadline = time.monotonic() + 120
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _lines(first: int, last: int) -> list[str]:
    return [_line(n) for n in range(first, last + 1)]


@pytest.fixture
def logs_api(
    running_api: Callable[..., RunningApi],  # noqa: F811
    instance: dg.DagsterInstance,
) -> RunningApi:
    return running_api(dagster_home=Path(instance.root_directory), dagster_ui_url=UI + "/")


@pytest.fixture
def build_with(
    git_http: Any, instance: dg.DagsterInstance, resources: dict[str, Any], state: PlatformState
) -> Callable[..., tuple[DeploymentRecord, Deployer]]:
    """A queued git deployment of the static site and a deployer building it with
    `NumberedBuild(**settings)`."""

    def make(**settings: Any) -> tuple[DeploymentRecord, Deployer]:
        repo = git_http.create_repo(unique("app"), STATIC_SITE)
        record = queue_git(state, repo, unique("site"))
        deployer = Deployer(instance, {**resources, "build_runner": NumberedBuild(**settings)})
        return record, deployer

    return make


def get(api: RunningApi, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{api.url}{path}", timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def cli_env(api: RunningApi, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DP_")}
    return {**env, "DP_API_URL": api.url, "DP_STATE_DIR": str(tmp_path / "cli-state")}


def cli(api: RunningApi, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy_platform.cli", *argv],
        env=cli_env(api, tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_id_of(instance: dg.DagsterInstance, deployment_id: str) -> str:
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": deployment_id}), limit=1)
    return runs[0].run_id


def test_a_finished_build_log_is_the_runs_stdout_with_its_run_link(
    logs_api: RunningApi,
    build_with: Callable[..., tuple[DeploymentRecord, Deployer]],
    instance: dg.DagsterInstance,
    tmp_path: Path,
) -> None:
    record, deployer = build_with(lines=20, trailer="done, no newline")
    assert deployer.run(record.id).success
    run_id = run_id_of(instance, record.id)

    status, page = get(logs_api, f"/api/deployments/{record.id}/logs")

    assert status == 200
    # The run has ended: its last line is whole even without a newline.
    assert page["text"] == "".join(line + "\n" for line in _lines(1, 20)) + "done, no newline"
    assert (page["id"], page["status"], page["run_id"]) == (record.id, "ready", run_id)
    assert page["run_status"] == "SUCCESS" and page["finished"] is True and page["more"] is False
    assert page["run_url"] == f"{UI}/runs/{run_id}"
    assert page["next_offset"] == len(page["text"].encode())
    # Dagster's log of the run is the other tab: the steps' own messages are there.
    _, stderr = get(logs_api, f"/api/deployments/{record.id}/logs?stream=stderr")
    assert "numbered build: starting" in stderr["text"] and "line 001" not in stderr["text"]

    shown = cli(logs_api, tmp_path, "logs", record.id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == page["text"]
    assert f"Dagster run: {UI}/runs/{run_id}" in shown.stderr

    status_lines = cli(logs_api, tmp_path, "status", record.id).stdout.splitlines()
    assert any(
        line.split() == ["log", "deploy-platform", "logs", record.id] for line in status_lines
    )
    assert ["dagster", "run", page["run_url"]] in [line.split() for line in status_lines]


def test_pages_end_at_line_ends_and_follow_each_other(
    logs_api: RunningApi, build_with: Callable[..., tuple[DeploymentRecord, Deployer]]
) -> None:
    record, deployer = build_with(lines=30)
    assert deployer.run(record.id).success
    _, whole = get(logs_api, f"/api/deployments/{record.id}/logs")

    pieces: list[str] = []
    offset = 0
    while True:
        status, page = get(logs_api, f"/api/deployments/{record.id}/logs?offset={offset}&limit=100")
        assert status == 200 and page["offset"] == offset
        # At a line's end; only a line longer than the limit comes in pieces.
        assert page["text"].endswith("\n") or "\n" not in page["text"]
        assert len(page["text"].encode()) <= 100
        pieces.append(page["text"])
        offset = page["next_offset"]
        if not page["more"]:
            break
    assert "".join(pieces) == whole["text"]
    assert len(pieces) > 10  # the limit did page it

    _, tail = get(logs_api, f"/api/deployments/{record.id}/logs?tail=3")
    assert tail["text"].splitlines() == _lines(28, 30)
    assert tail["next_offset"] == whole["next_offset"]
    assert tail["offset"] == whole["next_offset"] - len(tail["text"].encode())


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?offset=-1", "offset"),
        ("?limit=0", "limit"),
        ("?stream=both", "stream"),
        ("?tail=0", "tail"),
        ("?page=2", "page"),
        ("?offset=1&offset=2", "offset"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(
    logs_api: RunningApi, state: PlatformState, query: str, field: str
) -> None:
    record = queued_deployment(state)
    status, answer = get(logs_api, f"/api/deployments/{record.id}/logs{query}")
    assert status == 400 and answer["error"]["field"] == field


def queued_deployment(state: PlatformState) -> DeploymentRecord:
    """A queued deployment no run has picked up yet."""
    record = make_record(project=unique("site"), source=SourceKind.UPLOAD, ref=None)
    state.create(record)
    return record


def test_unknown_and_malformed_ids_are_refused_with_exit_code_2(
    logs_api: RunningApi, tmp_path: Path
) -> None:
    unknown_id = new_deployment_id()
    status, answer = get(logs_api, f"/api/deployments/{unknown_id}/logs")
    assert status == 404 and answer["error"]["code"] == "deployment_not_found"
    assert f"no deployment {unknown_id}" in answer["error"]["message"]
    status, answer = get(logs_api, "/api/deployments/NOT-AN-ID/logs")
    assert status == 400 and answer["error"]["field"] == "id"

    unknown = cli(logs_api, tmp_path, "logs", unknown_id)
    assert unknown.returncode == 2 and f"no deployment {unknown_id}" in unknown.stderr
    assert unknown.stdout == ""
    malformed = cli(logs_api, tmp_path, "logs", "nope")
    assert malformed.returncode == 2 and "is not a deployment id" in malformed.stderr


def test_a_queued_deployment_says_so(
    logs_api: RunningApi, state: PlatformState, tmp_path: Path
) -> None:
    record = queued_deployment(state)

    _, page = get(logs_api, f"/api/deployments/{record.id}/logs")
    assert page["status"] == "queued" and page["run_id"] is None
    assert page["text"] == "" and page["finished"] is False

    shown = cli(logs_api, tmp_path, "logs", record.id)
    assert shown.returncode == 0 and shown.stdout == ""
    assert f"Deployment {record.id} is queued: its build has not started yet" in shown.stderr


@pytest.fixture
def in_background() -> Iterator[Callable[[Callable[[], object]], None]]:
    threads: list[threading.Thread] = []

    def start(work: Callable[[], object]) -> None:
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    for thread in threads:
        thread.join(timeout=300)


def test_following_prints_a_running_build_as_it_is_written_until_it_ends(
    logs_api: RunningApi,
    build_with: Callable[..., tuple[DeploymentRecord, Deployer]],
    in_background: Callable[[Callable[[], object]], None],
    state: PlatformState,
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    record, deployer = build_with(lines=12, gate=str(gate), before_gate=5)
    out, err = tmp_path / "follow.out", tmp_path / "follow.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        follower = subprocess.Popen(
            [sys.executable, "-m", "deploy_platform.cli", "logs", record.id, "--follow"],
            env=cli_env(logs_api, tmp_path),
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
    try:
        # Before its run starts, the deployment is queued and the command waits.
        eventually(lambda: "is queued" in err.read_text(), timeout=60, message=err.read_text)
        in_background(lambda: deployer.run(record.id))

        # The first lines are printed while the build is still running.
        eventually(lambda: _line(5) in out.read_text(), timeout=120, message=err.read_text)
        assert out.read_text() == "".join(line + "\n" for line in _lines(1, 5))
        _, page = get(logs_api, f"/api/deployments/{record.id}/logs")
        assert page["finished"] is False and page["run_status"] == "STARTED"
        assert state.get(record.id).status is Status.BUILDING

        gate.touch()
        assert follower.wait(timeout=300) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert out.read_text() == "".join(line + "\n" for line in _lines(1, 12))
    assert "Dagster run: " + UI + "/runs/" in err.read_text()
    assert state.get(record.id).status is Status.READY


def test_a_failed_deploy_prints_the_last_40_complete_lines_the_command_and_the_run(
    logs_api: RunningApi,
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    state: PlatformState,
    in_background: Callable[[Callable[[], object]], None],
    tmp_path: Path,
) -> None:
    deployer = Deployer(instance, {**resources, "build_runner": NumberedBuild(lines=60, fail=True)})

    def pipeline() -> None:
        # What the queue sensor does: the queued id becomes a run of the deploy job.
        deadline = time.monotonic() + 120
        entries: list[tuple[str, str]] = []
        while not entries and time.monotonic() < deadline:
            entries = state.read_queue(STREAM_START, block_ms=100)
        if entries:
            deployer.run(entries[0][1])

    in_background(pipeline)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>hello</h1>")

    done = cli(logs_api, tmp_path, "deploy", str(site), "--project", unique("site"))

    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    start = lines.index("Last 40 lines of the build log:")
    deployment_id = lines[start - 1].split()[1]
    assert lines[start - 1] == (
        f"Deployment {deployment_id} failed: build failed: `npm run build` exited with 1."
    )
    # Whole lines, the long ones too, exactly as the build printed them.
    assert lines[start + 1 : start + 41] == _lines(21, 60)
    run_id = run_id_of(instance, deployment_id)
    assert lines[start + 41 :] == [
        f"Full log:    deploy-platform logs {deployment_id}",
        f"Dagster run: {UI}/runs/{run_id}",
    ]


def test_history_keeps_the_whole_error_and_the_table_its_first_line(
    logs_api: RunningApi,
    build_with: Callable[..., tuple[DeploymentRecord, Deployer]],
    instance: dg.DagsterInstance,
    store: ObjectStore,
) -> None:
    record, deployer = build_with(lines=10, fail=True)
    deployer.run(record.id)

    frame = HistoryService(instance, store).frame()
    row = frame[frame["id"] == record.id].to_dict(orient="records")[0]
    assert row["error"] == (
        "build failed: `npm run build` exited with 1. Last lines:\n" + "\n".join(_lines(8, 10))
    )
    _, page = get(logs_api, "/api/history")
    assert page["deployments"][0]["error"] == row["error"]
    table = render_rows(frame, "table").splitlines()
    assert table[0].split()[-1] == "ERROR"
    assert table[1].endswith("build failed: `npm run build` exited with 1.")


def test_the_log_is_the_newest_build_run_not_a_run_of_the_checks_alone(
    logs_api: RunningApi,
    build_with: Callable[..., tuple[DeploymentRecord, Deployer]],
    instance: dg.DagsterInstance,
) -> None:
    record, deployer = build_with(lines=3)
    assert deployer.run(record.id).success
    first = run_id_of(instance, record.id)

    # Re-running the asset checks from the UI makes a run of the partition that builds nothing.
    deployer.check(record.id)
    assert run_id_of(instance, record.id) != first
    _, page = get(logs_api, f"/api/deployments/{record.id}/logs")
    assert page["run_id"] == first and page["text"].splitlines() == _lines(1, 3)

    # Materialized again by hand: the new run is the deployment's build now.
    assert deployer.materialize(record.id).success
    _, page = get(logs_api, f"/api/deployments/{record.id}/logs")
    assert page["run_id"] not in (first, None)
    assert page["run_url"] == f"{UI}/runs/{page['run_id']}"
    assert page["text"].splitlines() == _lines(1, 3) and page["finished"] is True


def test_the_build_steps_own_lines_are_in_the_log_too(
    logs_api: RunningApi,
    git_http: Any,
    deployer: Deployer,
    state: PlatformState,
    tmp_path: Path,
) -> None:
    # The platform's static runner builds nothing; what it decided is the whole log.
    repo = git_http.create_repo(unique("app"), {"public/index.html": "<h1>hi</h1>"})
    record = queue_git(state, repo, unique("site"))
    assert deployer.run(record.id).success

    shown = cli(logs_api, tmp_path, "logs", record.id)

    assert shown.returncode == 0 and shown.stdout == "static site: publishing public/\n"
