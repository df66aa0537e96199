"""`deploy_platform.definitions` loads from DP_* variables, as the code location does under `up`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from deploy_platform.contracts.records import Status
from deploy_platform.orchestration.instance.home import write_dagster_home
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import pack_site, queue_upload, unique
from tests.support.environment import PlatformEnv, child_env, code_location_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def location_env(
    platform_env: PlatformEnv,
    redis_server: RedisServer,
    state: PlatformState,
    local_store_root: Path,
) -> dict[str, str]:
    """Every variable the code location reads, set the way `up` sets them (some empty)."""
    env = code_location_env(redis_server.url, state.prefix, local_store_root.as_uri())
    platform_env.set(**env)
    return env


def test_definitions_validate_and_describe_the_pipeline(location_env: dict[str, str]) -> None:
    from deploy_platform.definitions import ENV_VARS, defs

    assert set(ENV_VARS) == set(location_env)
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("deploy")
    assert job.executor_def is dg.in_process_executor
    # Runs started from the UI's "Materialize" button use the implicit asset job.
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor
    assert job.partitions_def == dg.DynamicPartitionsDefinition(name="deployments")
    assert {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()} == {
        "source_archive",
        "built_artifact",
        "published_deployment",
    }
    for asset in defs.resolve_asset_graph().assets_defs:
        if not asset.keys:
            continue  # the asset checks' own definitions
        description = asset.descriptions_by_key[asset.key]
        assert description and "\n" not in description.strip()
    # The checks run in a job of their own, started after a successful deploy run, so a
    # failed build never shows them as failed in the UI.
    assert not job.asset_layer.asset_graph.asset_check_keys
    checks = defs.resolve_job_def("deployment_checks")
    assert {key.name for key in checks.asset_layer.asset_graph.asset_check_keys} == {
        "index_served",
        "bodies_stored",
    }
    after = defs.resolve_sensor_def("deployment_checks_sensor")
    assert after.default_status is dg.DefaultSensorStatus.RUNNING
    queue = defs.resolve_sensor_def("deployment_queue_sensor")
    failures = defs.resolve_sensor_def("deployment_failure_sensor")
    retries = defs.resolve_sensor_def("commit_status_sensor")
    assert queue.default_status is dg.DefaultSensorStatus.RUNNING
    assert failures.default_status is dg.DefaultSensorStatus.RUNNING
    # The code location loaded without a DP_GITHUB_TOKEN: nothing to retry, no ticks.
    assert retries.default_status is dg.DefaultSensorStatus.STOPPED
    assert queue.minimum_interval_seconds == 1
    # Backstops and follow-ups tick every 15-30 s; the queue lanes and the wait sensor
    # long-poll instead (sensors/queue_sensor.py, sensors/wait_sensor.py).
    assert failures.minimum_interval_seconds == 30
    assert after.minimum_interval_seconds == 30
    assert retries.minimum_interval_seconds == 15
    assert defs.resolve_sensor_def("deployment_recovery_sensor").minimum_interval_seconds == 30


def test_definitions_deploy_with_resources_from_the_environment(
    location_env: dict[str, str], tmp_path: Path, state: PlatformState, store: ObjectStore
) -> None:
    from deploy_platform.definitions import defs

    record = queue_upload(state, store, unique("env"), pack_site(tmp_path, {"index.html": "hi"}))
    state.enqueue(record.id)
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
            result = defs.resolve_sensor_def("deployment_queue_sensor")(context)
        assert isinstance(result, dg.SensorResult)
        assert [r.run_key for r in result.run_requests or []] == [record.id]  # type: ignore[union-attr]

        instance.add_dynamic_partitions("deployments", [record.id])
        run = defs.resolve_job_def("deploy").execute_in_process(
            partition_key=record.id, instance=instance
        )

    assert run.success
    assert state.get(record.id).status is Status.READY


def test_an_unset_variable_fails_the_run_naming_it(
    location_env: dict[str, str], platform_env: PlatformEnv, state: PlatformState
) -> None:
    from deploy_platform.definitions import defs

    platform_env.unset("DP_REDIS_URL")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("deployments", ["abcdefghij23"])
        with pytest.raises(Exception, match="DP_REDIS_URL"):
            defs.resolve_job_def("deploy").execute_in_process(
                partition_key="abcdefghij23", instance=instance
            )


def test_the_workspace_up_writes_loads_the_code_location(
    location_env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "dagster"
    write_dagster_home(home)
    env = child_env(**location_env, DAGSTER_HOME=str(home))

    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            str(home / "workspace.yaml"),
        ],
        cwd=tmp_path,  # not the checkout: workspace.yaml must find the package by itself
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "deploy_platform" in done.stdout + done.stderr
