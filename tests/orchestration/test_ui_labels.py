"""What the Dagster UI shows of a deployment's assets: materialization metadata that
leads with which deployment it is, and descriptions that survive its Markdown."""

from __future__ import annotations

import re
from typing import Any

import dagster as dg

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.orchestration.assets import (
    built_artifact,
    published_deployment,
    source_archive,
)
from deploy_platform.orchestration.assets.checks import deployment_checks
from deploy_platform.orchestration.jobs.checks import checks_job
from deploy_platform.orchestration.jobs.deploy import deploy_job
from deploy_platform.orchestration.sensors.checks_sensor import checks_request
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import Deployer, queue_git, unique

_CODE_SPAN = re.compile(r"`[^`]*`")


def test_each_materialization_leads_with_url_project_branch_and_commit(
    git_http: Any, deployer: Deployer, state: PlatformState
) -> None:
    project = unique("labels")
    record = queue_git(state, git_http.create_repo(unique("site"), {"index.html": "hi"}), project)
    assert deployer.run(record.id).success
    ready = state.get(record.id)

    for asset in ("source_archive", "built_artifact", "published_deployment"):
        [event] = deployer.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[record.id]),
            limit=1,
        ).records
        materialization = event.asset_materialization
        assert materialization is not None
        metadata = materialization.metadata
        assert list(metadata)[:4] == ["url", "project", "branch", "commit"], asset
        assert metadata["url"].value == ready.urls["deployment"]
        assert metadata["project"].value == project
        assert metadata["branch"].value == "main"
        assert metadata["commit"].value == ready.commit
        # Then the numbers a person looks for, before the rest.
        assert list(metadata)[4:6] == ["files", "bytes"] or asset == "source_archive"


def test_descriptions_have_no_html_like_text_outside_code_spans() -> None:
    """The UI renders descriptions as Markdown: a bare `<id>` is taken for an HTML tag
    and disappears, so every placeholder is in backticks."""
    descriptions = {
        "job deploy": deploy_job.description,
        "job deployment_checks": checks_job.description,
    }
    for checks in deployment_checks:
        for spec in checks.check_specs:
            descriptions[f"check {spec.name}"] = spec.description
    for asset in (source_archive, built_artifact, published_deployment):
        descriptions[f"asset {asset.key.to_user_string()}"] = asset.descriptions_by_key[asset.key]
    for name, text in descriptions.items():
        assert text, name
        assert "<" not in _CODE_SPAN.sub("", text), f"{name}: {text}"


def test_a_checks_run_is_labelled_like_its_deploy_run_and_queued_behind_builds() -> None:
    deployment_id = new_deployment_id()
    deploy_run = dg.DagsterRun(
        job_name="deploy",
        tags={
            "dagster/partition": deployment_id,
            "deploy/project": "shop",
            "deploy/ref": "main",
            "deploy/retry_of": "an-earlier-run",
        },
    )
    request = checks_request(deploy_run)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"checks-of-{deploy_run.run_id}"
    assert request.tags == {
        "dagster/partition": deployment_id,
        "deploy/project": "shop",
        "deploy/ref": "main",
        "dagster/priority": "-1",
    }
    unpartitioned = checks_request(dg.DagsterRun(job_name="deploy"))
    assert isinstance(unpartitioned, dg.SkipReason)
