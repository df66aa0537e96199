"""Every deployed name is a project: `project list/show` agree with `rollback` and `aliases`,
and a project without a repository has no webhook secret until it gets one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deploy_platform import cli
from deploy_platform.cli.common import EXIT_BAD_INPUT
from deploy_platform.projects.store import read_project
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi, unique_name
from tests.support.deployments import published

StartApi = Callable[..., RunningApi]


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


def site(root: Path) -> Path:
    root.mkdir()
    (root / "index.html").write_text("<h1>hi</h1>")
    return root


def rows(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines()[1:]}


def test_an_upload_only_project_has_no_secret_until_it_gets_a_repository(
    api: str,
    store: LocalObjectStore,
    capsys: pytest.CaptureFixture[str],
    git_http: Any,
) -> None:
    code, out, _ = run(capsys, "project", "create", "docs", "--api", api)
    assert code == 0
    assert "Webhook secret" not in out
    assert "  webhook     none: no repository" in "\n".join(out.splitlines())
    stored = read_project(store, "docs")
    assert stored is not None and stored.webhook_secret == ""

    code, _, err = run(capsys, "project", "update", "docs", "--rotate-webhook-secret", "--api", api)
    assert code == EXIT_BAD_INPUT and "has no repository" in err

    repo_url = f"{git_http.base_url}/team/docs.git"
    code, out, _ = run(capsys, "project", "update", "docs", "--repo", repo_url, "--api", api)
    stored = read_project(store, "docs")
    assert code == 0 and stored is not None and stored.webhook_secret
    assert f"Webhook secret: {stored.webhook_secret}" in out.splitlines()  # printed once

    code, out, _ = run(capsys, "project", "update", "docs", "--build-forks", "--api", api)
    assert code == 0 and stored.webhook_secret not in out and "Webhook secret" not in out
    code, out, _ = run(capsys, "project", "show", "docs", "--api", api)
    assert stored.webhook_secret not in out and "secret set" in out


def test_a_first_deploy_makes_the_project(
    api: str,
    store: LocalObjectStore,
    tmp_path: Path,
    git_http: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, _ = run(capsys, "deploy", str(site(tmp_path / "blog")), "--no-wait", "--api", api)
    assert code == 0
    repo = git_http.create_repo(unique_name("shop"), {"index.html": "<h1>shop</h1>"})
    code, _, err = run(capsys, "deploy", repo.url, "--project", "shop", "--no-wait", "--api", api)
    assert code == 0, err

    code, out, _ = run(capsys, "project", "list", "--api", api)
    assert code == 0
    listed = rows(out)
    assert listed["blog"][:3] == ["blog", "upload", "main"]
    assert listed["shop"][:4] == ["shop", "git", "main", repo.url]

    shop = read_project(store, "shop")
    assert shop is not None and shop.repo_url == repo.url and shop.webhook_secret == ""
    code, out, _ = run(capsys, "project", "show", "shop", "--api", api)
    assert code == 0 and "no secret yet" in out and "--rotate-webhook-secret" in out
    # Another change makes none; asking for one prints it once.
    code, out, _ = run(capsys, "project", "update", "shop", "--build-forks", "--api", api)
    assert code == 0 and "Webhook secret" not in out
    code, out, _ = run(capsys, "project", "update", "shop", "--rotate-webhook-secret", "--api", api)
    shop = read_project(store, "shop")
    assert code == 0 and shop is not None and shop.webhook_secret
    assert f"Webhook secret: {shop.webhook_secret}" in out.splitlines()

    # A second deploy changes nothing of the stored project.
    code, _, _ = run(capsys, "deploy", str(tmp_path / "blog"), "--no-wait", "--api", api)
    assert code == 0 and read_project(store, "blog") is not None


def test_a_name_deployed_before_projects_were_made_on_deploy_is_listed_and_changed(
    api: str,
    store: LocalObjectStore,
    state: PlatformState,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As an older platform left it: live deployments and aliases, no project object.
    first = published(store, state, "legacy", b"<h1>v1</h1>")
    second = published(store, state, "legacy", b"<h1>v2</h1>")
    assert read_project(store, "legacy") is None

    code, out, _ = run(capsys, "project", "list", "--api", api)
    assert code == 0 and rows(out)["legacy"][:3] == ["legacy", "upload", "main"]
    code, out, _ = run(capsys, "project", "show", "legacy", "--api", api)
    assert code == 0 and "none stored: known from its deployments" in out
    code, out, _ = run(capsys, "project", "show", "legacy", "--json", "--api", api)
    assert json.loads(out)["stored"] is False

    # The same project to rollback and aliases, as to project show.
    code, out, _ = run(capsys, "rollback", "legacy", "--api", api)
    assert code == 0 and first.id in out
    code, out, _ = run(capsys, "aliases", "legacy", "--api", api)
    assert code == 0 and first.id in out
    assert read_project(store, "legacy") is None  # reads stored nothing

    # Its first change stores it (a lazy migration), from what its deployments say.
    code, out, _ = run(
        capsys, "project", "update", "legacy", "--build-command", "make", "--api", api
    )
    assert code == 0, out
    stored = read_project(store, "legacy")
    assert stored is not None and stored.build.build_command == "make"
    assert stored.repo_url is None and stored.production_branch == "main"
    assert second.id != first.id
