"""What `deploy-platform up` hands its children: every variable the code location reads."""

from __future__ import annotations

from pathlib import Path

from deploy_platform.cli.one_machine import _child_env
from deploy_platform.definitions import ENV_VARS
from deploy_platform.settings.platform import Settings


def test_up_passes_every_variable_the_dagster_definitions_read(tmp_path: Path) -> None:
    settings = Settings.from_env({"DP_STATE_DIR": str(tmp_path), "DP_REDIS_URL": "redis://x"})

    env = _child_env(settings, tmp_path / "dagster", {})

    assert set(ENV_VARS) <= set(env)
    assert env["DP_GITHUB_TOKEN"] == "" and env["DP_GITHUB_API_URL"] == ""


def test_up_passes_the_github_settings_on(tmp_path: Path) -> None:
    given = {
        "DP_STATE_DIR": str(tmp_path),
        "DP_REDIS_URL": "redis://x",
        "DP_GITHUB_API_URL": "https://ghe.example.com/api/v3",
        "DP_GITHUB_TOKEN": "ghp-example",
        "DP_GITHUB_STATUS_CONTEXT": "previews",
    }

    env = _child_env(Settings.from_env(given), tmp_path / "dagster", given)

    for name in ("DP_GITHUB_API_URL", "DP_GITHUB_TOKEN", "DP_GITHUB_STATUS_CONTEXT"):
        assert env[name] == given[name]
    assert "ghp-example" not in repr(Settings.from_env(given))


def test_up_gives_the_daemon_room_for_a_long_polling_sensor_tick(tmp_path: Path) -> None:
    settings = Settings.from_env({"DP_STATE_DIR": str(tmp_path), "DP_REDIS_URL": "redis://x"})

    assert _child_env(settings, tmp_path / "dagster", {})[
        "DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS"
    ] == ("180")
    given = {"DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS": "300"}
    assert (
        _child_env(settings, tmp_path / "dagster", given)["DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS"]
        == "300"
    )


def test_up_caps_the_children_malloc_arenas_unless_told_otherwise(tmp_path: Path) -> None:
    settings = Settings.from_env({"DP_STATE_DIR": str(tmp_path), "DP_REDIS_URL": "redis://x"})

    assert _child_env(settings, tmp_path / "dagster", {})["MALLOC_ARENA_MAX"] == "2"
    given = {"MALLOC_ARENA_MAX": "8"}
    assert _child_env(settings, tmp_path / "dagster", given)["MALLOC_ARENA_MAX"] == "8"
