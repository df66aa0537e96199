"""The DAGSTER_HOME that `up` writes loads as a real Dagster instance with our settings."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator

from deploy_platform.orchestration.instance.coordinator import LaunchOnSubmitCoordinator
from deploy_platform.orchestration.instance.home import (
    CODE_LOCATION,
    workspace_yaml,
    write_dagster_home,
)


def test_dagster_yaml_configures_the_queue_sensors_and_monitoring(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    write_dagster_home(home, max_concurrent_runs=3)

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, LaunchOnSubmitCoordinator)
        assert isinstance(coordinator, QueuedRunCoordinator)  # the queue daemon runs for it
        assert coordinator.get_run_queue_config().max_concurrent_runs == 3
        assert coordinator.dequeue_interval_seconds == 5
        # Only the daemons something here needs.
        assert sorted(instance.get_required_daemon_types()) == [
            "BACKFILL",
            "EVENT_LOG_CONSUMER",
            "MONITORING",
            "QUEUED_RUN_COORDINATOR",
            "SCHEDULER",
            "SENSOR",
        ]
        assert instance.get_sensor_settings()["use_threads"] is True
        assert instance.get_settings("schedules")["use_threads"] is True
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 120
        assert instance.telemetry_enabled is False
        # Retries for crashed workers only, never for a deployment that failed for a reason.
        assert instance.run_retries_enabled is True
        assert instance.run_retries_max_retries == 2
        assert instance.run_retries_retry_on_asset_or_op_failure is False
        # SQLite under DAGSTER_HOME: the history survives restarts of `up`.
        assert Path(instance.root_directory) == home
        assert (home / "history" / "runs.db").exists()
    finally:
        instance.dispose()


def test_rewriting_keeps_the_history_and_the_workspace_names_the_module(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    write_dagster_home(home)
    marker = home / "storage" / "keep-me"
    marker.parent.mkdir(parents=True)
    marker.write_text("x")

    write_dagster_home(home, max_concurrent_runs=8)

    assert marker.read_text() == "x"
    workspace = yaml.safe_load((home / "workspace.yaml").read_text())
    location = workspace["load_from"][0]["python_module"]
    assert location["module_name"] == "deploy_platform.definitions"
    assert (Path(location["working_directory"]) / "deploy_platform" / "__init__.py").exists()
    assert "max_concurrent_runs: 8" in (home / "dagster.yaml").read_text()


def test_postgres_storage_is_named_by_environment_variable(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    write_dagster_home(home, postgres_url_env="DP_DAGSTER_PG_URL")

    config = yaml.safe_load((home / "dagster.yaml").read_text())

    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DP_DAGSTER_PG_URL"}}}


def test_given_a_port_the_workspace_names_one_grpc_server_and_no_module(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    write_dagster_home(home, code_server_port=23456)

    workspace = yaml.safe_load((home / "workspace.yaml").read_text())

    assert workspace["load_from"] == [
        {
            "grpc_server": {
                "host": "127.0.0.1",
                "port": 23456,
                "location_name": CODE_LOCATION,
            }
        }
    ]


def test_the_workspace_refuses_a_port_that_is_not_one() -> None:
    for port in (0, 65536, -1):
        with pytest.raises(ValueError, match="not a TCP port"):
            workspace_yaml(port)
