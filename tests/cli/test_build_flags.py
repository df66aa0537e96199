"""`deploy-platform deploy` build flags: --clean, --env and the overrides reach the record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deploy_platform import cli
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi, queued_ids, unique_name

SITE = {"index.html": "<h1>hello</h1>\n"}
SECRET = "cli-secret-that-must-never-be-printed"


@pytest.fixture
def api(running_api: Any, git_allow_hosts: Any) -> RunningApi:
    """The API over HTTP, allowed to fetch from the loopback git server."""
    started: RunningApi = running_api(git_allow_hosts=tuple(git_allow_hosts))
    return started


@pytest.fixture
def site(tmp_path: Path) -> Path:
    directory = tmp_path / "site"
    directory.mkdir()
    (directory / "index.html").write_text(SITE["index.html"])
    return directory


def test_a_directory_deploy_carries_build_settings_and_clean(
    api: RunningApi,
    state: PlatformState,
    site: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STRIPE_KEY", SECRET)

    code = cli.main(
        [
            "deploy",
            str(site),
            "--api",
            api.url,
            "--no-wait",
            "--json",
            "--clean",
            "--env",
            "VITE_TITLE=Hello = world",
            "--env",
            "STRIPE_KEY",
            "--build-command",
            "npm run build",
            "--output-dir",
            "dist",
            "--package-manager",
            "pnpm@9",
        ]
    )

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert SECRET not in captured.out + captured.err
    answer = json.loads(captured.out)
    assert answer["build"]["env"] == {"VITE_TITLE": "***", "STRIPE_KEY": "***"}
    build = state.get(answer["id"]).build
    assert build["env"] == {"VITE_TITLE": "Hello = world", "STRIPE_KEY": SECRET}
    assert build["clean"] is True
    assert (build["build_command"], build["output_directory"]) == ("npm run build", "dist")
    assert build["package_manager"] == "pnpm@9"


def test_a_git_deploy_carries_build_settings(
    api: RunningApi, state: PlatformState, git_http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_http.create_repo(unique_name("mono"), SITE)

    code = cli.main(
        [
            "deploy",
            repo.url,
            "--api",
            api.url,
            "--no-wait",
            "--root-dir",
            "apps/web",
            "--node-version",
            "20",
            "--install-command",
            "",
            "--env",
            f"TOKEN={SECRET}",
        ]
    )

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert SECRET not in captured.out + captured.err
    build = state.get(captured.out.strip()).build
    assert (build["root_directory"], build["node_version"]) == ("apps/web", "20")
    assert build["install_command"] == "", '"" means: skip the install'
    assert build["env"] == {"TOKEN": SECRET}
    assert build["clean"] is False


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--env", "=value"], "give NAME=VALUE"),
        (["--env", "DP_TEST_SURELY_UNSET"], "DP_TEST_SURELY_UNSET is not set in your environment"),
        (["--env", "A=1", "--env", "A=2"], "--env A is given more than once"),
        (["--env", f"PATH={SECRET}"], "--env: "),
        (["--env", f"1BAD={SECRET}"], "--env: "),
        (["--root-dir", "../elsewhere"], "--root-dir: "),
        (["--output-dir", "/etc"], "--output-dir: "),
        (["--node-version", "banana"], "--node-version: "),
        (["--package-manager", "pip"], "--package-manager: "),
    ],
)
def test_bad_build_flags_exit_2_before_anything_is_sent(
    api: RunningApi,
    state: PlatformState,
    site: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    code = cli.main(["deploy", str(site), "--api", api.url, "--no-wait", *flags])

    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert SECRET not in captured.out + captured.err
    assert "Traceback" not in captured.err
    assert queued_ids(state) == []


def test_deploy_help_lists_the_build_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["deploy", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in (
        "--clean",
        "--env",
        "--root-dir",
        "--install-command",
        "--build-command",
        "--output-dir",
        "--node-version",
        "--package-manager",
    ):
        assert flag in out
    assert "never shown back" in out
