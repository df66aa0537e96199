"""`deploy-platform deploy`: from a git URL or a directory, through the stages, to the URL."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deploy_platform import cli
from deploy_platform.cli.deploy import default_project_name
from deploy_platform.contracts.records import Environment, SourceKind, Status
from deploy_platform.processes.ports import free_port
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi, queued_ids, unique_name
from tests.support.environment import PlatformEnv

SITE = {"index.html": "<h1>hello</h1>\n", "about/index.html": "<h1>about</h1>\n"}
STATS = {
    "files": 2,
    "bytes_total": 40,
    "files_uploaded": 1,
    "bytes_uploaded": 15,
    "files_reused": 1,
    "bytes_reused": 25,
}
STAGES = ("queued", "cloning", "building", "publishing", "ready")

StartApi = Callable[..., RunningApi]


@pytest.fixture
def api(running_api: StartApi, git_allow_hosts: Any) -> RunningApi:
    """The API over HTTP, allowed to fetch from the loopback git server."""
    return running_api(git_allow_hosts=tuple(git_allow_hosts))


def only_queued(state: PlatformState) -> str:
    ids = queued_ids(state)
    assert len(ids) == 1, ids
    return ids[0]


def stage_lines(text: str) -> list[str]:
    """The stages printed, without what a queued deployment waits for (`queued: ...`)."""
    labels = [line.split("]", 1)[1].strip() for line in text.splitlines() if line.startswith("  [")]
    return [label for label in labels if ": " not in label]


def test_a_git_url_is_followed_to_ready_and_its_urls_printed(
    api: RunningApi,
    state: PlatformState,
    git_http: Any,
    pipeline: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = git_http.create_repo(unique_name("My_Site"), SITE)
    project = repo.name.lower().replace("_", "-")  # My_Site_1a2b3c4d -> my-site-1a2b3c4d
    pipeline(Status.READY, **STATS)

    code = cli.main(["deploy", repo.url, "--api", api.url])

    out = capsys.readouterr().out
    assert code == 0, out
    deployment_id = only_queued(state)
    record = state.get(deployment_id)
    assert (record.project, record.commit, record.source) == (
        project,
        repo.head("main"),
        SourceKind.GIT,
    )
    assert stage_lines(out) == list(STAGES)
    assert f"http://{deployment_id}.localhost:8080/" in out
    assert f"http://{project}.localhost:8080/" in out
    assert "1 uploaded" in out and "1 reused" in out


def test_a_branch_deploy_prints_its_preview_url(
    api: RunningApi,
    state: PlatformState,
    git_http: Any,
    pipeline: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    repo.commit({"index.html": "<h1>beta</h1>\n"}, "beta", branch="feature/beta")
    pipeline(Status.READY, **STATS)

    code = cli.main(
        ["deploy", repo.url, "--ref", "feature/beta", "--project", "docs", "--api", api.url]
    )

    out = capsys.readouterr().out
    assert code == 0, out
    record = state.get(only_queued(state))
    assert record.environment is Environment.PREVIEW
    assert record.commit == repo.head("feature/beta")
    assert "http://feature-beta--docs.localhost:8080/" in out


def test_a_failed_deployment_exits_1_with_its_error(
    api: RunningApi,
    git_http: Any,
    pipeline: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)
    pipeline(Status.FAILED, error="no index.html in the build output; add one")

    code = cli.main(["deploy", repo.url, "--api", api.url])

    captured = capsys.readouterr()
    assert code == 1
    assert "no index.html in the build output; add one" in captured.err
    assert "failed" in stage_lines(captured.out)


def test_waiting_past_the_timeout_exits_3_and_says_how_to_check(
    api: RunningApi, state: PlatformState, git_http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)

    code = cli.main(["deploy", repo.url, "--api", api.url, "--timeout", "0.2"])

    err = capsys.readouterr().err
    assert code == 3
    assert f"deploy-platform status {only_queued(state)}" in err
    assert "still queued" in err


def test_no_wait_prints_only_the_id(
    api: RunningApi, state: PlatformState, git_http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)

    code = cli.main(["deploy", repo.url, "--api", api.url, "--no-wait"])

    assert code == 0
    assert capsys.readouterr().out.strip() == only_queued(state)


def test_a_directory_is_packed_and_uploaded_as_the_source(
    api: RunningApi,
    state: PlatformState,
    local_store_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = tmp_path / "My Site"
    (site / "about").mkdir(parents=True)
    for name, text in SITE.items():
        (site / name).write_text(text)
    for left_out in (".git", "node_modules/lib"):
        (site / left_out).mkdir(parents=True)
        (site / left_out / "big.bin").write_bytes(b"x" * 100)

    code = cli.main(["deploy", str(site), "--api", api.url, "--no-wait"])

    assert code == 0
    deployment_id = capsys.readouterr().out.strip()
    record = state.get(deployment_id)
    assert (record.source, record.project, record.repo_url) == (SourceKind.UPLOAD, "my-site", None)
    with tarfile.open(local_store_root / "sources" / f"{deployment_id}.tar.gz") as tar:
        contents = {
            member.name.removeprefix("./"): tar.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
        }
    assert contents == SITE


def test_json_output_is_the_final_record(
    api: RunningApi,
    tmp_path: Path,
    pipeline: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hi")
    pipeline(Status.READY, **STATS)

    code = cli.main(["deploy", str(site), "--api", api.url, "--ref", "feature/x", "--json"])

    captured = capsys.readouterr()
    assert code == 0
    record = json.loads(captured.out)
    assert record["status"] == "ready"
    assert record["environment"] == "preview"
    assert "http://feature-x--site.localhost:8080/" in record["urls"].values()
    assert "publishing" in captured.err  # progress goes to stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deploy", "/no/such/dir"], "neither an existing directory nor a git URL"),
        (["deploy", "https://example.com/o/site.git", "--project", "Bad_Name"], "--project"),
        (["deploy", "https://example.com/o/___.git"], "--project"),
        (["deploy", "https://example.com/o/site.git", "--timeout", "soon"], "invalid float"),
        (["deploy"], "SOURCE"),
        (["status", "not-an-id"], "not a deployment id"),
        (["launch"], "unknown command 'launch'"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    api: RunningApi,
    state: PlatformState,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code = cli.main([*args, "--api", api.url] if args[0] != "launch" else args)

    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert queued_ids(state) == []


def test_a_file_is_not_a_source(
    api: RunningApi, state: PlatformState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "site.tar.gz"
    archive.write_bytes(b"x")

    code = cli.main(["deploy", str(archive), "--api", api.url])

    assert code == 2
    assert "is a file" in capsys.readouterr().err
    assert queued_ids(state) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ref", "no-such-branch"], "no-such-branch"),
        (["--ref", "bad..ref"], "not a valid branch, tag or commit name"),
    ],
)
def test_the_apis_refusal_is_shown_and_exits_2(
    api: RunningApi,
    state: PlatformState,
    git_http: Any,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    repo = git_http.create_repo(unique_name("site"), SITE)

    code = cli.main(["deploy", repo.url, "--api", api.url, *extra])

    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "[ref]" in err
    assert queued_ids(state) == []


@pytest.mark.parametrize(
    "url", ["file:///srv/git/site.git", "http://127.0.0.1/o/site.git", "ext::sh -c id"]
)
def test_a_refused_repo_url_exits_2(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    api = running_api()

    code = cli.main(["deploy", url, "--project", "site", "--api", api.url])

    err = capsys.readouterr().err
    assert code == 2
    assert "[repo_url]" in err
    assert queued_ids(state) == []


def test_no_platform_running_is_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    nothing = f"http://127.0.0.1:{free_port()}"

    code = cli.main(["deploy", "https://example.com/o/site.git", "--api", nothing])

    err = capsys.readouterr().err
    assert code == 4
    assert nothing in err and "deploy-platform up" in err
    assert "Traceback" not in err


def test_the_api_url_comes_from_dp_api_url(
    api: RunningApi,
    state: PlatformState,
    tmp_path: Path,
    platform_env: PlatformEnv,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hi")
    platform_env.set(DP_API_URL=api.url)

    code = cli.main(["deploy", str(tmp_path / "site"), "--no-wait"])

    assert code == 0
    assert capsys.readouterr().out.strip() == only_queued(state)


def test_the_token_comes_from_the_environment_or_the_state_directory(
    running_api: StartApi,
    state: PlatformState,
    tmp_path: Path,
    cli_env: Path,
    platform_env: PlatformEnv,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = running_api(api_token="tok-123")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hi")
    args = ["deploy", str(site), "--api", api.url, "--no-wait"]

    assert cli.main(args) == 2
    assert "DP_API_TOKEN" in capsys.readouterr().err
    assert queued_ids(state) == []

    (cli_env / "api-token").write_text("tok-123\n")
    assert cli.main(args) == 0

    platform_env.set(DP_API_TOKEN="tok-123")
    (cli_env / "api-token").write_text("stale\n")
    assert cli.main(args) == 0
    assert len(queued_ids(state)) == 2


def test_help_is_there_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    top = capsys.readouterr().out
    assert all(word in top for word in ("up", "deploy", "status", "exit codes"))
    assert cli.main(["deploy", "--help"]) == 0
    deploy_help = capsys.readouterr().out
    assert all(word in deploy_help for word in ("--ref", "--project", "--no-wait", "--timeout"))
    assert cli.main(["status", "--help"]) == 0


@pytest.mark.parametrize(
    ("source", "project"),
    [
        ("https://github.com/org/my_site.git", "my-site"),
        ("https://github.com/org/Docs/", "docs"),
        ("git@github.com:org/Cool.Site.git", "cool-site"),
        ("https://example.com/" + "x" * 40 + ".git", "x" * 32),
    ],
)
def test_default_project_names(source: str, project: str) -> None:
    assert default_project_name(source) == project


def test_a_live_deployment_with_warnings_lists_them_after_its_urls(
    api: RunningApi,
    git_http: Any,
    pipeline: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = git_http.create_repo(unique_name("warned"), SITE)
    warnings = (
        "_redirects line 3: skipped: 999 is not a redirect status",
        "package-lock.json is out of date with package.json: installed with `npm install`",
    )
    pipeline(Status.READY, warnings=warnings, **STATS)

    code = cli.main(["deploy", repo.url, "--api", api.url])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 warnings (the deployment is live):" in captured.err
    assert all(f"  {warning}" in captured.err.splitlines() for warning in warnings)
    assert "warning" not in captured.out  # stdout stays the stages and the URLs
