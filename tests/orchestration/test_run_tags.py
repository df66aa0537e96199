"""Run tags are shown in the Dagster UI to everyone who can see runs: no build secrets."""

from __future__ import annotations

import dagster as dg

from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind
from deploy_platform.contracts.tags import enqueued_of, materialization_tags
from deploy_platform.orchestration.sensors.queue_sensor import run_tags

SECRET = "tag-secret-that-must-never-show"


def test_run_tags_never_hold_build_variables() -> None:
    build = BuildSettings.from_dict(
        {"env": {"API_TOKEN": SECRET}, "build_command": "npm run build", "clean": True}
    )
    record = DeploymentRecord(
        id="abcdefghijkl",
        project="shop",
        source=SourceKind.GIT,
        environment=Environment.PRODUCTION,
        ref="main",
        commit="0" * 40,
        build=build.to_dict(),
    )

    tags = run_tags(record)

    assert tags["deploy/project"] == "shop"
    assert not any(SECRET in key or SECRET in value for key, value in tags.items())
    assert not any("API_TOKEN" in key or "API_TOKEN" in value for key, value in tags.items())


def test_queue_sensor_tags_say_when_it_was_queued_and_materialization_tags_are_valid() -> None:
    record = DeploymentRecord(
        id="abcdefghijkl",
        project="shop",
        source=SourceKind.GIT,
        environment=Environment.PREVIEW,
        ref="feature/Login Page",
        commit="0" * 40,
        timestamps={"queued": 1_796_292_620.25},
    )

    tags = run_tags(record)
    labels = materialization_tags(record)

    # Hidden from the UI's run list (a timestamp is no filter); the history reads it.
    assert tags[".dagster/deploy_enqueued_at"] == "2026-12-03T10:10:20.250Z"
    assert tags["deploy/trigger"] == "api" and tags["deploy/ref"] == "feature/Login Page"
    # Dagster refuses asset event tags outside [A-Za-z0-9_.-]{0,63}: the branch is its slug.
    assert labels == {
        "deploy/project": "shop",
        "deploy/environment": "preview",
        "deploy/commit": "0" * 40,
        "deploy/branch": "feature-login-page",
    }
    dg.MaterializeResult(tags=labels)  # accepted as they are


def test_the_queue_time_is_read_from_runs_tagged_before_it_was_hidden() -> None:
    at = "2026-12-03T10:10:20.250Z"
    assert enqueued_of({".dagster/deploy_enqueued_at": at}) == at
    assert enqueued_of({"deploy/enqueued_at": at}) == at  # a run from an older release
    assert enqueued_of({"deploy/project": "shop"}) is None
