"""What the Dagster UI shows of deployments run by the real daemon: run tags a person
filters by (the launcher's bookkeeping hidden), and checks that are not shown failed
when a build failed and there was nothing to check."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import TagType, get_tag_type

from deploy_platform.contracts.records import Status
from deploy_platform.history.build_log import find_run
from deploy_platform.history.collect import deployment_partition
from deploy_platform.orchestration.instance.launcher import WORKER_PID_TAG
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import pack_site, queue_upload, unique
from tests.orchestration.test_daemon import (  # noqa: F401 (the fixture)
    dagster_env,
    running_daemon,
    wait_for,
    wait_for_run_end,
)
from tests.support.waiting import until

pytestmark = pytest.mark.slow

CHECKS = ("index_served", "bodies_stored")
SHOWN = {
    "deploy/project",
    "deploy/source",
    "deploy/environment",
    "deploy/trigger",
    "deploy/ref",
    "deploy/commit",
}


def _runs(instance: dg.DagsterInstance, deployment_id: str, job: str) -> list[dg.DagsterRun]:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": deployment_id}))
    return [run for run in runs if run.job_name == job]


def _shown_tags(run: dg.DagsterRun) -> set[str]:
    """The tags the UI lists on the run (it leaves out hidden ones and Dagster's own)."""
    return {
        key
        for key in run.tags
        if get_tag_type(key) is not TagType.HIDDEN  # type: ignore[no-untyped-call]
        and not key.startswith("dagster/")
    }


def test_the_ui_shows_labels_and_no_failed_checks_for_a_failed_build(
    dagster_env: dict[str, str],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    state: PlatformState,
    store: ObjectStore,
) -> None:
    log = tmp_path / "daemon.log"
    project = unique("ui")
    good = queue_upload(state, store, project, pack_site(tmp_path, {"index.html": "<h1>ok</h1>"}))
    # Hidden files only: nothing to publish, the build fails.
    bad = queue_upload(state, store, project, pack_site(tmp_path, {".env": "SECRET=1"}))
    state.enqueue(good.id)
    state.enqueue(bad.id)

    instance = dg.DagsterInstance.from_config(dagster_env["DAGSTER_HOME"])
    try:
        with running_daemon(dagster_env, log):
            assert wait_for(state, good.id, log).status is Status.READY
            assert wait_for(state, bad.id, log).status is Status.FAILED
            wait_for_run_end(dagster_env, good.id, log)
            wait_for_run_end(dagster_env, bad.id, log)
            # The checks sensor starts the good deployment's checks in a run of their own.
            [checks_run] = until(
                lambda: _runs(instance, good.id, "deployment_checks"),
                lambda runs: len(runs) == 1 and runs[0].is_finished,
                timeout=240,
                interval=0.5,
                message=lambda runs: f"no finished checks run for {good.id}: {runs}",
            )

        [good_run] = _runs(instance, good.id, "deploy")
        [bad_run] = _runs(instance, bad.id, "deploy")
        assert good_run.status is dg.DagsterRunStatus.SUCCESS
        assert bad_run.status is dg.DagsterRunStatus.FAILURE
        # The run's tags are what people filter by; the launcher's are hidden.
        assert _shown_tags(good_run) <= SHOWN
        assert good_run.tags["deploy/project"] == project
        assert good_run.tags[WORKER_PID_TAG].isdigit()
        assert not any(key.startswith("deploy/worker") for key in good_run.tags)
        assert checks_run.status is dg.DagsterRunStatus.SUCCESS
        assert checks_run.tags["deploy/project"] == project
        assert _runs(instance, bad.id, "deployment_checks") == []
        # The checks run carries the partition too, but the logs and the history read
        # the run that built it.
        found = find_run(instance, good.id)
        assert found is not None and found.run_id == good_run.run_id
        assert deployment_partition(checks_run) is None

        for name in CHECKS:
            key = dg.AssetCheckKey(dg.AssetKey("published_deployment"), name)
            history = instance.event_log_storage.get_asset_check_execution_history(key, limit=20)
            # The good deployment was checked (index_served fails here: the test
            # platform has no edge-origin URL); the failed build has no check at all,
            # so the UI shows them not executed for it, not "Execution failed".
            assert [r.partition for r in history if r.partition == good.id] == [good.id]
            assert [r for r in history if r.partition == bad.id] == []
        bodies = dg.AssetCheckKey(dg.AssetKey("published_deployment"), "bodies_stored")
        [latest] = [
            r
            for r in instance.event_log_storage.get_asset_check_execution_history(bodies, limit=5)
            if r.partition == good.id
        ]
        assert latest.status.value == "SUCCEEDED"
    finally:
        instance.dispose()
