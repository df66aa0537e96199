"""remote_head and commit_message against the real smart-HTTP server on loopback."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from deploy_platform.contracts.errors import SourceError
from deploy_platform.source.git.commits import RemoteHead, commit_message, remote_head
from tests.support.git_fixtures import GitHttpServer

SITE = {"index.html": "<h1>one</h1>"}
MAX = 16 * 1024 * 1024


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def git(server: GitHttpServer, *args: str) -> str:
    done = subprocess.run(["git", *args], env=server.env, capture_output=True, check=True)
    return done.stdout.decode().strip()


# -- remote_head ----------------------------------------------------------------------


@pytest.mark.parametrize("branch", ["master", "main", "trunk", "release/2.x"])
def test_the_default_branch_is_the_one_head_names(git_http: GitHttpServer, branch: str) -> None:
    repo = git_http.create_repo(unique("site"), SITE, branch=branch)
    repo.commit({"x.html": "x"}, branch="feature/other")

    assert remote_head(repo.url) == RemoteHead(branch, repo.head(branch))


def test_a_v0_server_names_its_default_branch_too(git_http: GitHttpServer) -> None:
    repo = git_http.create_repo(unique("old"), SITE, branch="master", protocol_v2=False)

    assert remote_head(repo.url) == RemoteHead("master", repo.head("master"))


def test_an_empty_repository_names_no_branch(git_http: GitHttpServer) -> None:
    name = unique("empty")
    git(
        git_http,
        "init",
        "-q",
        "--bare",
        "--initial-branch=master",
        str(git_http.repos_root / f"{name}.git"),
    )

    assert remote_head(f"{git_http.base_url}/{name}.git") == RemoteHead(None, None)


def test_a_missing_repository_is_a_source_error(git_http: GitHttpServer) -> None:
    with pytest.raises(SourceError, match="404"):
        remote_head(f"{git_http.base_url}/{unique('nothing')}.git")


# -- commit_message -------------------------------------------------------------------


@pytest.mark.parametrize("filters", [True, False], ids=["server-filters", "server-does-not"])
def test_the_message_of_a_commit_behind_the_tip_is_read(
    git_http: GitHttpServer, filters: bool
) -> None:
    repo = git_http.create_repo(unique("site"), {**SITE, "big.bin": b"\0" * 200_000})
    if filters:  # as GitHub does: only the commit object travels
        git(git_http, "-C", str(repo.bare), "config", "uploadpack.allowFilter", "true")
    wanted = repo.commit({"a.html": "a"}, message="[CF-Pages-Skip] docs\n\nmore words\n")
    repo.commit({"a.html": "b"}, message="later")

    assert commit_message(repo.url, wanted, max_bytes=MAX) == "[CF-Pages-Skip] docs\n\nmore words\n"


def test_a_v0_server_is_asked_for_the_branch_instead(git_http: GitHttpServer) -> None:
    # Protocol v0 without allowReachableSHA1InWant hands out branch tips only.
    repo = git_http.create_repo(unique("old"), SITE, protocol_v2=False)
    wanted = repo.commit({"a.html": "a"}, message="Fix [skip ci]", branch="feature/x")
    repo.commit({"a.html": "b"}, message="later", branch="feature/x")

    assert commit_message(repo.url, wanted, branch="feature/x", max_bytes=MAX) == "Fix [skip ci]\n"
    with pytest.raises(SourceError):
        commit_message(repo.url, wanted, max_bytes=MAX)


def test_a_commit_that_is_gone_is_a_source_error(git_http: GitHttpServer) -> None:
    repo = git_http.create_repo(unique("site"), SITE)

    with pytest.raises(SourceError):
        commit_message(repo.url, "1" * 40, branch="main", max_bytes=MAX)
    with pytest.raises(SourceError, match="not a full commit SHA"):
        commit_message(repo.url, "abc123", max_bytes=MAX)


def test_a_repository_that_needs_a_login_is_a_source_error(git_http: GitHttpServer) -> None:
    repo = git_http.create_repo(unique("private"), SITE, private=True)

    with pytest.raises(SourceError, match="login"):
        commit_message(repo.url, "2" * 40, max_bytes=MAX)
