"""The record's live progress (`progress`) and what a queued deployment waits for (`waiting`)."""

from __future__ import annotations

import json

from deploy_platform.contracts.progress import MAX_DETAIL, MAX_PROGRESS, Counter
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status


def record() -> DeploymentRecord:
    return DeploymentRecord(
        id="abcdefghijk2", project="site", source=SourceKind.GIT, environment=Environment.PREVIEW
    ).with_status(Status.QUEUED, at=100.0)


def test_milestones_are_kept_in_order_and_shown_by_the_api() -> None:
    building = record().with_status(Status.BUILDING, at=101.0)
    building = building.with_milestone(
        "building", "download node", "node 20.11.1 downloaded (41.2 MiB in 43.0 s)", at=144.0
    )
    building = building.with_milestone("building", "install", "npm ci (16.2 s)", at=160.5)

    answer = building.to_public_dict()
    assert answer["progress"] == [
        {
            "at": 144.0,
            "stage": "building",
            "step": "download node",
            "detail": "node 20.11.1 downloaded (41.2 MiB in 43.0 s)",
        },
        {"at": 160.5, "stage": "building", "step": "install", "detail": "npm ci (16.2 s)"},
    ]
    # Stored as JSON in Redis and read back the same.
    assert DeploymentRecord.from_json(building.to_json()).progress == building.progress


def test_a_step_s_next_milestone_replaces_its_last_one() -> None:
    current = record()
    for detail in ("running npm ci", "npm ci (16.2 s)"):
        current = current.with_milestone("building", "install", detail)
    for count in (120, 340):
        current = current.with_milestone("publishing", "upload", f"uploaded {count} of 340 bodies")
    assert [e["detail"] for e in current.progress] == [
        "npm ci (16.2 s)",
        "uploaded 340 of 340 bodies",
    ]


def test_the_list_and_each_line_are_bounded() -> None:
    current = record()
    for n in range(MAX_PROGRESS + 25):
        current = current.with_milestone("building", f"step {n}", "x" * 1000 + "\nsecond line")
    assert len(current.progress) == MAX_PROGRESS
    assert current.progress[-1]["step"] == f"step {MAX_PROGRESS + 24}"  # the oldest went
    assert all(len(e["detail"]) <= MAX_DETAIL and "\n" not in e["detail"] for e in current.progress)


def test_a_stage_that_runs_again_drops_its_own_and_later_milestones() -> None:
    current = record()
    current = current.with_milestone("cloning", "clone", "cloned")
    current = current.with_milestone("building", "install", "npm ci (3.0 s)")
    current = current.with_milestone("publishing", "upload", "uploaded 3 of 3 bodies")
    assert [e["stage"] for e in current.progress_before("building")] == ["cloning"]
    assert [e["stage"] for e in current.progress_before("publishing")] == ["cloning", "building"]


def test_a_damaged_stored_list_is_cleaned_not_fatal() -> None:
    data = json.loads(record().to_json())
    data["progress"] = [
        {"at": 1.0, "stage": "building", "step": "x", "detail": "ok"},
        "not an entry",
        {"stage": "building"},
    ]
    data["waiting"] = ""
    loaded = DeploymentRecord.from_dict(data)
    assert [e["detail"] for e in loaded.progress] == ["ok"]
    assert loaded.waiting is None
    # An older record without the fields loads with none.
    del data["progress"], data["waiting"]
    assert DeploymentRecord.from_dict(data).progress == ()


def test_waiting_is_only_for_a_queued_deployment() -> None:
    queued = record().replace(waiting="waiting for a build slot: 4 of 4 builds running")
    assert queued.to_public_dict()["waiting"].startswith("waiting for a build slot")
    assert queued.with_status(Status.CLONING).waiting is None
    assert queued.with_status(Status.FAILED, error="x").waiting is None


def test_a_counter_reports_the_last_count_always() -> None:
    lines: list[tuple[str, str]] = []
    counter = Counter(
        lambda step, detail: lines.append((step, detail)),
        "upload",
        3,
        lambda n, m: f"uploaded {n} of {m} bodies",
        every=3600.0,
    )
    for _ in range(3):
        counter.add()
    # The first two fall within the interval; the last one is always said.
    assert lines == [("upload", "uploaded 3 of 3 bodies")]
