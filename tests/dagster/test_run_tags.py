"""Run tags are shown in the Dagster UI to everyone who can see runs: no build secrets."""

from __future__ import annotations

from deploy_platform.build.settings import BuildSettings
from deploy_platform.records import DeploymentRecord, Environment, SourceKind
from deploy_platform.sensors.queue_sensor import run_tags

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
