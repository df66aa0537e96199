"""The instance settings `up` reads: good values are taken, bad ones named with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_platform.processes.ports import free_port
from deploy_platform.settings.instance import (
    InstanceSettings,
    check_postgres,
    load_run_launcher,
    redacted_url,
    sqlalchemy_url,
    with_sqlalchemy_url,
)


def test_defaults_are_one_machine() -> None:
    settings = InstanceSettings.from_env({})
    assert settings == InstanceSettings(
        postgres_url="", max_concurrent_builds=4, builds_per_project=None, run_launcher=None
    )


def test_scale_out_values_are_read(tmp_path: Path) -> None:
    launcher = tmp_path / "launcher.yaml"
    launcher.write_text("run_launcher:\n  module: dagster_docker\n  class: DockerRunLauncher\n")
    settings = InstanceSettings.from_env(
        {
            "DP_DAGSTER_POSTGRES_URL": "postgresql://dagster:s3cret@db.internal:5432/dagster",
            "DP_MAX_CONCURRENT_BUILDS": "12",
            "DP_BUILDS_PER_PROJECT": "2",
            "DP_DAGSTER_RUN_LAUNCHER": str(launcher),
        }
    )
    assert settings.max_concurrent_builds == 12 and settings.builds_per_project == 2
    assert settings.run_launcher == {
        "module": "dagster_docker",
        "class": "DockerRunLauncher",
        "config": {},
    }
    assert "s3cret" not in repr(settings)


def test_the_ui_idle_time_is_read_in_minutes_and_zero_keeps_the_ui() -> None:
    assert InstanceSettings.from_env({}).ui_idle_minutes == 10
    assert InstanceSettings.from_env({"DP_UI_IDLE_MINUTES": "2.5"}).ui_idle_minutes == 2.5
    assert InstanceSettings.from_env({"DP_UI_IDLE_MINUTES": "0"}).ui_idle_minutes == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DP_MAX_CONCURRENT_BUILDS": "0"}, "DP_MAX_CONCURRENT_BUILDS='0' must be a whole number"),
        ({"DP_BUILDS_PER_PROJECT": "two"}, "DP_BUILDS_PER_PROJECT='two' must be a whole number"),
        (
            {"DP_BUILDS_PER_PROJECT": "5", "DP_MAX_CONCURRENT_BUILDS": "4"},
            "is more than DP_MAX_CONCURRENT_BUILDS=4",
        ),
        (
            {"DP_DAGSTER_POSTGRES_URL": "mysql://u:pw@h/db"},
            "must be a PostgreSQL URL: postgresql://user:password@host:5432/database",
        ),
        ({"DP_DAGSTER_POSTGRES_URL": "postgresql://u:pw@h"}, "must name a host and a database"),
        ({"DP_DAGSTER_POSTGRES_URL": "postgresql+asyncpg://h/db"}, "the driver is psycopg2"),
        ({"DP_DAGSTER_RUN_LAUNCHER": "/nonexistent/launcher.yaml"}, "cannot read the file"),
        ({"DP_UI_IDLE_MINUTES": "ten"}, "DP_UI_IDLE_MINUTES='ten' must be a number of minutes"),
        ({"DP_UI_IDLE_MINUTES": "-1"}, "from 0 to 10080"),
    ],
)
def test_bad_values_are_refused_with_what_to_write(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        InstanceSettings.from_env(env)
    assert message in str(refused.value)
    assert ":pw@" not in str(refused.value)  # never the password


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("run_launcher: [a, b]\n", "must hold a `run_launcher:` mapping"),
        ("other: {}\n", "must hold a `run_launcher:` mapping"),
        ("run_launcher:\n  module: dagster_docker\n", "`run_launcher` needs class"),
        ("run_launcher: {module: m, class: C, config: [1]}\n", "must be a mapping"),
        ("run_launcher: {module: m\n", "is not YAML"),
    ],
)
def test_a_bad_run_launcher_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "launcher.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="DP_DAGSTER_RUN_LAUNCHER") as refused:
        load_run_launcher(path)
    assert message in str(refused.value)


def test_urls_get_the_installed_driver_and_lose_their_password_in_messages() -> None:
    assert sqlalchemy_url("postgres://u:p@h:5432/d") == "postgresql+psycopg2://u:p@h:5432/d"
    assert sqlalchemy_url("postgresql://h/d") == "postgresql+psycopg2://h/d"
    assert sqlalchemy_url("postgresql+psycopg2://h/d") == "postgresql+psycopg2://h/d"
    assert with_sqlalchemy_url({"DP_DAGSTER_POSTGRES_URL": "postgresql://h/d", "X": "1"}) == {
        "DP_DAGSTER_POSTGRES_URL": "postgresql+psycopg2://h/d",
        "X": "1",
    }
    assert with_sqlalchemy_url({"X": "1"}) == {"X": "1"}
    assert redacted_url("postgresql://dagster:s3cret@db/x") == "postgresql://dagster:***@db/x"


def test_an_unreachable_server_is_named_without_its_password() -> None:
    url = f"postgresql://dagster:s3cret@127.0.0.1:{free_port()}/dagster"
    with pytest.raises(ValueError) as refused:
        check_postgres(url, timeout_seconds=2)
    assert "cannot connect to DP_DAGSTER_POSTGRES_URL='postgresql://dagster:***@127.0.0.1" in str(
        refused.value
    )
    assert "s3cret" not in str(refused.value)
