"""The reporter the assets hand the build and publish code: milestones into the record,
and a Redis that does not answer never fails or stalls the build."""

from __future__ import annotations

import dagster as dg
import pytest

from deploy_platform.contracts.records import SourceKind, Status
from deploy_platform.orchestration.assets.progress import milestone_reporter
from deploy_platform.processes.ports import free_port
from deploy_platform.storage.redis_state import PlatformState, RetryBudget
from tests.orchestration.support import make_record, unique


def test_each_milestone_lands_in_the_record_of_the_partition(state: PlatformState) -> None:
    record = make_record(project=unique("site"), source=SourceKind.UPLOAD)
    state.create(record)
    context = dg.build_asset_context(partition_key=record.id)

    report = milestone_reporter(context, state, Status.BUILDING)
    report("install", "running npm ci")
    report("install", "npm ci (16.2 s)")
    report("build", "npm run build (4.6 s)")

    progress = state.get(record.id).progress
    assert [(e["stage"], e["step"], e["detail"]) for e in progress] == [
        ("building", "install", "npm ci (16.2 s)"),
        ("building", "build", "npm run build (4.6 s)"),
    ]


def test_a_redis_that_does_not_answer_is_tried_once_then_left_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    nobody = PlatformState.from_url(
        f"redis://127.0.0.1:{free_port()}/0",
        timeout=1.0,
        budget=RetryBudget(retries=0, base=0.01, cap=0.01, on_timeout=False),
    )
    context = dg.build_asset_context(partition_key="abcdefghijk2")
    report = milestone_reporter(context, nobody, Status.BUILDING)

    report("install", "running npm ci")  # raises nothing
    report("install", "npm ci (16.2 s)")

    # The run's log (stderr here; the run's events in the UI) has both, and one warning.
    log = capsys.readouterr().err
    assert log.count("could not record the milestone") == 1, log
    assert "building: running npm ci" in log and "building: npm ci (16.2 s)" in log
