"""`deploy-platform project create|show|update|delete|list` against a real control API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deploy_platform import cli
from deploy_platform.cli.common import EXIT_BAD_INPUT, EXIT_UNREACHABLE
from deploy_platform.processes.ports import free_port
from deploy_platform.projects.domains import add_domain
from deploy_platform.projects.store import read_project
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi

StartApi = Callable[..., RunningApi]
SECRET_VALUE = "cli-secret-value-never-printed"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def api(running_api: StartApi, git_allow_hosts: Any) -> str:
    return running_api(git_allow_hosts=tuple(git_allow_hosts)).url


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


@pytest.fixture
def repo_url(git_http: Any) -> str:
    return f"{git_http.base_url}/team/docs.git"


def test_create_prints_the_settings_and_the_secret_once(
    api: str,
    store: LocalObjectStore,
    capsys: pytest.CaptureFixture[str],
    repo_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRIPE_KEY", SECRET_VALUE)
    code, out, err = run(
        capsys,
        "project", "create", "docs",
        "--repo", repo_url,
        "--production-branch", "trunk",
        "--include", "release/*",
        "--exclude", "release/wip-*",
        "--build-command", "npm run build",
        "--output-dir", "dist",
        "--env", "STRIPE_KEY",
        "--env", "VITE_MODE=prod",
        "--api", api,
    )  # fmt: skip
    assert (code, err) == (0, "")
    stored = read_project(store, "docs")
    assert stored is not None
    assert stored.build.env == {"STRIPE_KEY": SECRET_VALUE, "VITE_MODE": "prod"}
    assert SECRET_VALUE not in out
    lines = out.splitlines()
    assert lines[0] == "Project docs"
    assert f"  repository  {repo_url}" in lines
    assert any(
        line.startswith("  production  branch trunk -> http://docs.localhost") for line in lines
    )
    assert "  previews    include release/*" in lines
    assert "              exclude release/wip-* (checked first)" in lines
    assert "  fork PRs    not built" in lines
    assert "  build       build_command 'npm run build', output_directory 'dist'" in lines
    assert "  variables   STRIPE_KEY, VITE_MODE (values hidden)" in lines
    assert f"Webhook secret: {stored.webhook_secret}" in lines
    assert any(line.startswith(f"Payload URL: {api}/api/webhooks/github/docs ") for line in lines)

    code, out, _ = run(capsys, "project", "show", "docs", "--api", api)
    assert code == 0
    assert stored.webhook_secret not in out and SECRET_VALUE not in out
    assert "  variables   STRIPE_KEY, VITE_MODE (values hidden)" in out.splitlines()


def test_show_lists_domains_and_json_masks_values(
    api: str,
    store: LocalObjectStore,
    state: PlatformState,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "project", "create", "docs", "--env", f"KEY={SECRET_VALUE}", "--api", api)
    add_domain(store, state, "www.example.com", "docs", "localhost")
    code, out, _ = run(capsys, "project", "show", "docs", "--api", api)
    assert code == 0
    assert "  domains     www.example.com" in out.splitlines()
    assert "  repository  none (deployed by upload only)" in out.splitlines()
    # Where its history is: the Dagster UI's run list filtered to the project.
    assert out.splitlines()[-1] == (
        "  runs        http://127.0.0.1:3000/runs?q%5B%5D=tag%3Adeploy%2Fproject%3Ddocs"
        " (Dagster UI)"
    )
    code, out, _ = run(capsys, "project", "show", "docs", "--json", "--api", api)
    shown = json.loads(out)
    assert shown["build"]["env"] == {"KEY": "***"}
    assert "webhook_secret" not in shown


def test_update_changes_what_is_given(
    api: str, store: LocalObjectStore, capsys: pytest.CaptureFixture[str], repo_url: str
) -> None:
    run(
        capsys,
        "project", "create", "docs", "--repo", repo_url,
        "--build-command", "make", "--node-version", "20",
        "--env", "KEEP=k", "--env", "DROP=d",
        "--api", api,
    )  # fmt: skip
    before = read_project(store, "docs")
    code, out, err = run(
        capsys,
        "project", "update", "docs",
        "--no-repo", "--build-forks", "--include", "", "--exclude", "wip/*",
        "--reset", "build-command", "--unset-env", "DROP", "--env", "NEW=n",
        "--api", api,
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    after = read_project(store, "docs")
    assert before is not None and after is not None
    assert after.repo_url is None and after.build_forks
    assert (after.branches.include, after.branches.exclude) == ((), ("wip/*",))
    assert after.build.build_command is None and after.build.node_version == "20"
    assert after.build.env == {"KEEP": "k", "NEW": "n"}
    assert after.webhook_secret == before.webhook_secret
    assert "Webhook secret" not in out
    assert "  previews    include (none)" in out.splitlines()


def test_rotating_the_secret_prints_the_new_one(
    api: str, store: LocalObjectStore, capsys: pytest.CaptureFixture[str], repo_url: str
) -> None:
    run(capsys, "project", "create", "docs", "--repo", repo_url, "--api", api)
    before = read_project(store, "docs")
    code, out, _ = run(capsys, "project", "update", "docs", "--rotate-webhook-secret", "--api", api)
    after = read_project(store, "docs")
    assert code == 0 and before is not None and after is not None
    assert after.webhook_secret != before.webhook_secret
    assert f"Webhook secret: {after.webhook_secret}" in out.splitlines()
    assert before.webhook_secret not in out


def test_list_and_delete(
    api: str,
    store: LocalObjectStore,
    state: PlatformState,
    capsys: pytest.CaptureFixture[str],
    repo_url: str,
) -> None:
    code, out, _ = run(capsys, "project", "list", "--api", api)
    assert (code, out) == (
        0,
        "no projects (create one with `deploy-platform project create NAME`)\n",
    )
    run(capsys, "project", "create", "docs", "--repo", repo_url, "--api", api)
    run(capsys, "project", "create", "blog", "--production-branch", "trunk", "--api", api)
    add_domain(store, state, "www.example.com", "docs", "localhost")
    code, out, _ = run(capsys, "project", "list", "--api", api)
    assert code == 0
    width = len(repo_url)
    assert out.splitlines() == [
        f"NAME  SOURCE  PRODUCTION  {'REPOSITORY'.ljust(width)}  DOMAINS",
        f"blog  upload  trunk       {'-'.ljust(width)}  -",
        f"docs  git     main        {repo_url}  www.example.com",
    ]
    code, out, _ = run(capsys, "project", "delete", "docs", "--api", api)
    assert code == 0
    assert out == (
        "project docs deleted: its settings and webhook secret are gone; its deployments "
        "and URLs keep serving; custom domains still mapped: www.example.com\n"
    )
    assert read_project(store, "docs") is None
    code, out, _ = run(capsys, "project", "list", "--json", "--api", api)
    assert [p["name"] for p in json.loads(out)["projects"]] == ["blog"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["create", "docs"], "already exists"),
        (["show", "ghost"], "no project ghost"),
        (["update", "ghost", "--build-forks"], "no project ghost"),
        (["delete", "ghost"], "no project ghost"),
        (
            [
                "update",
                "docs",
                "--rotate-webhook-secret",
                "--no-build-forks",
                "--repo",
                "ftp://x/y",
            ],
            "only http:// and https://",
        ),
        (["create", "web", "--repo", "git@github.com:o/r.git"], "SSH address"),
        (["create", "web", "--include", "feature branch"], "can never match a branch name"),
        (["create", "web", "--exclude", "m*"], "production would never deploy"),
        (["create", "web", "--production-branch", "a..b"], "production_branch"),
    ],
)
def test_refusals_from_the_api_exit_2_with_its_message(
    api: str,
    store: LocalObjectStore,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    run(capsys, "project", "create", "docs", "--api", api)
    before = store.get_bytes("projects/docs.json")
    code, out, err = run(capsys, "project", *argv, "--api", api)
    assert code == EXIT_BAD_INPUT, err
    assert out == ""
    assert says in err
    assert store.get_bytes("projects/docs.json") == before
    assert [info.key for info in store.list("projects/")] == ["projects/docs.json"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["create", "Docs Site"], "lowercase letters"),
        (["show", "My_Site"], "lowercase letters"),
        (["create", "docs", "--env", "PATH=/x"], "--env:"),
        (["create", "docs", "--output-dir", "../up"], "--output-dir:"),
        (["create", "docs", "--node-version", "banana"], "--node-version:"),
        (["update", "docs"], "nothing to change"),
        (["update", "docs", "--repo", "https://x/y.git", "--no-repo"], "contradict"),
        (["update", "docs", "--reset", "root-dir", "--root-dir", "a"], "contradict"),
        (["update", "docs", "--env", "A=1", "--unset-env", "A"], "contradict"),
    ],
)
def test_bad_flags_exit_2_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    # Nothing listens on this port: a request would exit 4 instead.
    api = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "project", *argv, "--api", api)
    assert code == EXIT_BAD_INPUT
    assert says in err


def test_an_unreachable_api_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    api = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "project", "list", "--api", api)
    assert code == EXIT_UNREACHABLE
    assert "Is the platform running?" in err
