"""Small things a web developer meets first: each is the CLI's exit code and output."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy_platform import cli
from deploy_platform.cli.common import EXIT_BAD_INPUT, EXIT_UNREACHABLE
from deploy_platform.cli.local_git import head_commit
from deploy_platform.cli.one_machine import SAMPLE_SITE
from deploy_platform.contracts.ids import ID_RULE
from deploy_platform.contracts.records import Status
from deploy_platform.processes.ports import free_port
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi, queued_ids
from tests.support.environment import PlatformEnv

StartApi = Callable[..., RunningApi]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def site(root: Path) -> Path:
    root.mkdir()
    (root / "index.html").write_text("<h1>hi</h1>")
    return root


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["deploi", "."], "unknown command 'deploi'; did you mean 'deploy'?"),
        (["stauts", "x"], "unknown command 'stauts'; did you mean 'status'?"),
        (["project", "lsit"], "unknown command 'lsit'; did you mean 'list'?"),
        (["zzzz"], "unknown command 'zzzz'; the commands are up, deploy, list, status"),
    ],
)
def test_a_mistyped_command_gets_the_closest_one(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert says in err.splitlines()[-1]


@pytest.mark.parametrize("command", [["status"], ["promote"], ["rollback", "docs"]])
def test_the_id_rule_message_states_every_rule(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # Twelve characters of the alphabet, but no digit: refused, and the message says why.
    code, _, err = run(capsys, *command, "abcdefghijkl")
    assert code == EXIT_BAD_INPUT
    assert ID_RULE == "12 characters of a-z and 2-7, with at least one digit"
    assert f"'abcdefghijkl' is not a deployment id ({ID_RULE}" in err


def test_deploy_checks_the_token_before_packing_a_directory(
    running_api: StartApi,
    state: PlatformState,
    local_store_root: Path,
    tmp_path: Path,
    platform_env: PlatformEnv,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = running_api(api_token="right-token")
    platform_env.set(DP_API_TOKEN="wrong-token")
    code, out, err = run(capsys, "deploy", str(site(tmp_path / "site")), "--api", api.url)
    assert code == EXIT_BAD_INPUT
    assert "the API refused the token" in err and "DP_API_TOKEN" in err
    assert "Uploading" not in out  # said before anything was packed or sent
    assert queued_ids(state) == []
    assert not (local_store_root / "sources").exists()


def test_deploy_of_a_directory_to_a_stopped_platform_packs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nothing = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "deploy", str(site(tmp_path / "site")), "--api", nothing)
    assert code == EXIT_UNREACHABLE
    assert "Uploading" not in out and "deploy-platform up" in err


def test_an_upload_is_shown_unpacking_never_cloning(
    running_api: StartApi,
    state: PlatformState,
    pipeline: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = running_api()
    pipeline(Status.READY, files=1, bytes_total=11)

    code, out, _ = run(capsys, "deploy", str(site(tmp_path / "site")), "--api", api.url)

    assert code == 0, out
    stages = [line.split("]", 1)[1].strip() for line in out.splitlines() if "s] " in line]
    assert stages == ["queued", "unpacking", "building", "publishing", "ready"]
    # The record keeps its status values: `cloning` is what API clients already read.
    [deployment_id] = queued_ids(state)
    assert "cloning" in state.get(deployment_id).timestamps

    code, out, _ = run(capsys, "status", deployment_id, "--api", api.url)
    assert code == 0
    assert "cloning" not in out and "unpacking" in out


def _git(repo: Path, *args: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Grace Hopper",
        "GIT_AUTHOR_EMAIL": "grace@example.invalid",
        "GIT_COMMITTER_NAME": "Grace Hopper",
        "GIT_COMMITTER_EMAIL": "grace@example.invalid",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def test_an_upload_of_a_repository_carries_its_head_commit(
    running_api: StartApi,
    state: PlatformState,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = running_api()
    repo = site(tmp_path / "site")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Launch the landing page\n\nWith a body.")
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()

    code, out, _ = run(capsys, "deploy", str(repo), "--no-wait", "--api", api.url)

    assert code == 0
    record = state.get(out.strip())
    assert (record.commit, record.commit_message, record.commit_author) == (
        head,
        "Launch the landing page",
        "Grace Hopper",
    )

    # A directory that is no repository sends no commit.
    code, out, _ = run(
        capsys, "deploy", str(site(tmp_path / "plain")), "--no-wait", "--api", api.url
    )
    assert code == 0
    plain = state.get(out.strip())
    assert (plain.commit, plain.commit_message, plain.commit_author) == (None, None, None)


def test_the_bundled_sample_site_carries_no_commit_of_the_platforms_checkout() -> None:
    # `up --sample` deploys a directory of the platform's own package: when the platform
    # runs from a git checkout, that checkout's HEAD is not the sample site's commit.
    assert head_commit(SAMPLE_SITE) is None
