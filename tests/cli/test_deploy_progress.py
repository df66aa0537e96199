"""`deploy` shows a build as it happens: each milestone once, and what a queued deployment
waits for, against a real control API and Redis (the pipeline's writes stood in for)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from deploy_platform import cli
from deploy_platform.cli import deploy, one_machine, output
from deploy_platform.cli.client import ApiClient
from deploy_platform.contracts.records import DeploymentRecord, Status
from deploy_platform.orchestration.sensors.wait_sensor import note_waiting
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.redis_state import STREAM_START, PlatformState
from tests.support.api_fixtures import RunningApi, unique_name

SITE = {"index.html": "<h1>hello</h1>\n"}

# (seconds after queued, stage, step, detail): a first build of a Vite app.
TIMELINE: list[tuple[float, str, str, str]] = [
    (1.0, "cloning", "", ""),
    (2.5, "building", "", ""),
    (2.6, "building", "download node", "downloading node 20.11.1"),
    (45.6, "building", "download node", "node 20.11.1 downloaded (41.2 MiB in 43.0 s)"),
    (46.0, "building", "cache-restore", "cache miss (no cache entry; 0.1 s)"),
    (62.3, "building", "install", "npm ci (16.2 s)"),
    (67.0, "building", "build", "npm run build (4.6 s)"),
    (96.1, "building", "cache-save", "cache saved (50.0 MiB in 29.0 s)"),
    (97.0, "publishing", "", ""),
    (98.2, "publishing", "upload", "uploaded 120 of 340 bodies"),
    (99.9, "publishing", "upload", "uploaded 340 of 340 bodies"),
    (100.0, "ready", "", ""),
]


@pytest.fixture
def api(running_api: Callable[..., RunningApi], git_allow_hosts: Any) -> RunningApi:
    """The API over HTTP, allowed to fetch from the loopback git server."""
    return running_api(git_allow_hosts=tuple(git_allow_hosts))


@pytest.fixture
def queued(state: PlatformState) -> Iterator[Callable[[Callable[[str], None]], None]]:
    """`queued(work)`: once a deployment is queued, run `work(deployment_id)` on a thread."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(work: Callable[[str], None]) -> None:
        def wait_then_work() -> None:
            entries: list[tuple[str, str]] = []
            while not entries and not stop.is_set():
                entries = state.read_queue(STREAM_START, block_ms=100)
            if entries:
                work(entries[0][1])

        thread = threading.Thread(target=wait_then_work, name="pipeline-stand-in", daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join()


def milestone(
    stage: str, step: str, detail: str, at: float
) -> Callable[[DeploymentRecord], DeploymentRecord]:
    """The change the asset's reporter makes, at a chosen time."""
    return lambda record: record.with_milestone(stage, step, detail, at=at)


def progress_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  [")]


def test_each_milestone_is_printed_once_as_it_appears_in_the_record(
    api: RunningApi,
    state: PlatformState,
    git_http: Any,
    queued: Callable[[Callable[[str], None]], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)

    def build(deployment_id: str) -> None:
        start = state.get(deployment_id).timestamps["queued"]
        state.note_queue_tick(time.time())
        for offset, stage, step, detail in TIMELINE:
            if step:
                state.update(deployment_id, milestone(stage, step, detail, start + offset))
            else:
                state.set_status(deployment_id, Status(stage), at=start + offset)

    queued(build)
    code = cli.main(["deploy", repo.url, "--project", "vite", "--api", api.url])

    out = capsys.readouterr().out
    assert code == 0, out
    lines = progress_lines(out)
    # The lines the user sees in between the stages, timed from queued, in order.
    expected = [
        "  [   1.0s] cloning",
        "  [   2.5s] building",
        "  [  45.6s] building: node 20.11.1 downloaded (41.2 MiB in 43.0 s)",
        "  [  46.0s] building: cache miss (no cache entry; 0.1 s)",
        "  [  62.3s] building: npm ci (16.2 s)",
        "  [  67.0s] building: npm run build (4.6 s)",
        "  [  96.1s] building: cache saved (50.0 MiB in 29.0 s)",
        "  [  97.0s] publishing",
        "  [  99.9s] publishing: uploaded 340 of 340 bodies",
        "  [ 100.0s] ready",
    ]
    shown = [line for line in lines if not line.split("] ", 1)[1].startswith("queued")]
    # A step's earlier state ("downloading ...", "uploaded 120 ...") shows when a poll saw it.
    assert [line for line in shown if line in expected] == expected
    assert len(shown) == len(set(shown)), "a milestone was printed twice"
    record = state.get(state.read_queue(STREAM_START)[0][1])
    assert [e["step"] for e in record.progress][:2] == ["download node", "cache-restore"]


def deploy_until_timeout(api: RunningApi, repo_url: str, capsys: Any) -> list[str]:
    """`deploy` of a deployment that stays queued: what it printed while waiting."""
    code = cli.main(["deploy", repo_url, "--api", api.url, "--timeout", "2"])
    captured = capsys.readouterr()
    assert code == 3, captured
    return [line.split("] ", 1)[1] for line in progress_lines(captured.out)]


def test_before_the_daemon_runs_a_queued_deployment_says_it_waits_for_the_daemon(
    api: RunningApi,
    git_http: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deploy, "HEARTBEAT_SECONDS", 0.2)
    repo = git_http.create_repo(unique_name("site"), SITE)

    labels = deploy_until_timeout(api, repo.url, capsys)

    waiting = (
        "waiting for the Dagster daemon to start and load the code location "
        "(its queue sensor has not run yet)"
    )
    assert f"queued: {waiting}" in labels
    # The heartbeat says why, never a bare "still queued".
    assert f"still queued: {waiting}" in labels
    assert "still queued" not in labels


def test_a_queued_deployment_says_it_waits_for_a_build_slot(
    api: RunningApi,
    state: PlatformState,
    git_http: Any,
    queued: Callable[[Callable[[str], None]], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)

    def in_the_run_queue(deployment_id: str) -> None:
        # What the queue sensor and wait_sensor.py write while the run queue is full.
        state.note_queue_tick(time.time())
        note_waiting(state, deployment_id, "waiting for a build slot: 4 of 4 builds running")

    queued(in_the_run_queue)
    labels = deploy_until_timeout(api, repo.url, capsys)

    slot = "queued: waiting for a build slot: 4 of 4 builds running"
    assert labels.count(slot) == 1, labels


def test_a_queue_sensor_that_stopped_ticking_is_what_a_deployment_waits_for(
    api: RunningApi,
    state: PlatformState,
    git_http: Any,
    queued: Callable[[Callable[[str], None]], None],
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    noted = threading.Event()

    def stale(deployment_id: str) -> None:
        state.note_queue_tick(time.time() - 600)  # ten minutes without a tick
        note_waiting(state, deployment_id, "waiting for a build slot: 4 of 4 builds running")
        noted.set()

    queued(stale)
    client = ApiClient(api.url, api.settings.api_token)
    record = client.deploy_git(repo.url, "stale", None, None)
    assert noted.wait(30)

    waiting = client.deployment(record["id"])["waiting"]
    assert waiting.startswith(
        "waiting for the Dagster daemon: its queue sensor last ran 10 min ago"
    )


def test_the_milestone_line_format() -> None:
    entry = {"at": 0.0, "stage": "building", "step": "install", "detail": "npm ci (16.2 s)"}
    assert output.progress_line(entry, 35.04) == "  [  35.0s] building: npm ci (16.2 s)"
    assert output.waiting_line({"status": "queued", "waiting": "waiting for x"}) == "waiting for x"
    assert output.waiting_line({"status": "building", "waiting": "stale"}) is None


def test_the_heartbeat_says_what_the_deployment_is_doing_or_waits_for() -> None:
    install = {"at": 9.0, "stage": "building", "step": "install", "detail": "running npm ci"}
    assert output.still_line({"status": "building", "progress": [install]}) == (
        "still building: running npm ci"
    )
    # A milestone of an earlier stage says nothing about this one.
    assert output.still_line({"status": "publishing", "progress": [install]}) == (
        "still publishing"
    )
    assert output.still_line({"status": "queued", "waiting": "waiting for a build slot"}) == (
        "still queued: waiting for a build slot"
    )


def test_status_shows_where_a_running_deployment_is() -> None:
    lines = output.format_record(
        {
            "id": "abcdefghijk2",
            "status": "building",
            "project": "vite",
            "environment": "production",
            "source": "git",
            "repo_url": "https://example.test/vite.git",
            "progress": [{"at": 1.0, "stage": "building", "step": "install", "detail": "npm ci"}],
        }
    )
    assert "  progress  building: npm ci" in lines


def test_up_forgets_the_last_daemon_s_tick_before_it_starts_its_own(
    make_settings: Callable[..., Settings], state: PlatformState
) -> None:
    # Left by the daemon of an earlier `up`: it would say the sensor is running.
    state.note_queue_tick(time.time())

    one_machine._forget_queue_tick(make_settings())

    assert state.last_queue_tick() is None
