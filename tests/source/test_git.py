"""ls_remote and fetch_commit against the real smart-HTTP server on loopback."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from deploy_platform.contracts.errors import InvalidRequest, SourceError
from deploy_platform.processes.ports import free_port
from deploy_platform.source.git.errors import RefNotFound, RepositoryTooLarge
from deploy_platform.source.git.remote import fetch_commit, ls_remote
from deploy_platform.source.repo_url import ValidatedRepoUrl, validate_repo_url
from tests.support.git_fixtures import GitHttpServer, TestRepo

SITE = {"index.html": "<h1>one</h1>", "css/site.css": "body{}"}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def repo(git_http: GitHttpServer) -> TestRepo:
    """A fresh repository with a main branch holding SITE."""
    return git_http.create_repo(unique("site"), SITE)


def work_files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


# -- ls_remote ----------------------------------------------------------------------


def test_a_branch_resolves_to_its_head(repo: TestRepo) -> None:
    assert ls_remote(repo.url, "main") == repo.head()
    feature = repo.commit({"new.html": "x"}, branch="feature/login")
    assert ls_remote(repo.url, "feature/login") == feature
    assert ls_remote(repo.url, "refs/heads/feature/login") == feature
    assert ls_remote(repo.url, "HEAD") == repo.head("main")


def test_tags_resolve_to_the_commit_annotated_or_not(repo: TestRepo) -> None:
    tagged = repo.head()
    repo.tag("v1.0", message="release 1.0")
    repo.tag("light", message=None)
    repo.commit({"index.html": "<h1>two</h1>"})
    assert ls_remote(repo.url, "v1.0") == tagged
    assert ls_remote(repo.url, "refs/tags/v1.0") == tagged
    assert ls_remote(repo.url, "light") == tagged


def test_a_full_sha_is_taken_as_is(repo: TestRepo) -> None:
    first = repo.head()
    repo.commit({"index.html": "<h1>two</h1>"})
    assert ls_remote(repo.url, first) == first
    assert ls_remote(repo.url, first.upper()) == first


def test_a_missing_ref_names_the_ref_and_some_branches(repo: TestRepo) -> None:
    repo.commit({"a": "b"}, branch="develop")
    with pytest.raises(RefNotFound) as info:
        ls_remote(repo.url, "no-such-branch")
    message = str(info.value)
    assert "'no-such-branch'" in message and "develop" in message and "main" in message
    with pytest.raises(RefNotFound, match="full 40-character SHA"):
        ls_remote(repo.url, repo.head()[:10])
    with pytest.raises(RefNotFound, match="main"):
        ls_remote(repo.url, "refs/heads/gone")


@pytest.mark.parametrize("ref", ["--upload-pack=touch", "a b", "x..y", "main.lock", "", "a~1"])
def test_refs_that_git_could_misread_are_refused_before_git_runs(repo: TestRepo, ref: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        ls_remote(repo.url, ref)
    assert info.value.field == "ref"


def test_a_repository_that_needs_a_login_fails_readably(git_http: GitHttpServer) -> None:
    private = git_http.create_repo(unique("private"), SITE, private=True)
    with pytest.raises(SourceError, match="asks for a login") as info:
        ls_remote(private.url, "main")
    assert "Traceback" not in str(info.value)


def test_a_missing_repository_fails_readably(git_http: GitHttpServer) -> None:
    with pytest.raises(SourceError, match="no Git repository at"):
        ls_remote(f"{git_http.base_url}/{unique('nothing')}.git", "main")


def test_a_closed_port_fails_readably() -> None:
    url = f"http://127.0.0.1:{free_port()}/site.git"
    with pytest.raises(SourceError, match="connection was refused") as info:
        ls_remote(url, "main")
    assert url in str(info.value)


def test_a_server_that_never_answers_hits_the_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts connections into the backlog, never replies
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/site.git"
        with pytest.raises(SourceError, match="did not finish within 1s"):
            ls_remote(url, "main", timeout=1)


@pytest.fixture
def redirector(git_http: GitHttpServer) -> Iterator[str]:
    """An HTTP server that answers every request with a redirect to the git server."""

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"{git_http.base_url}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_redirects_are_not_followed_to_unchecked_hosts(repo: TestRepo, redirector: str) -> None:
    with pytest.raises(SourceError, match="redirects") as info:
        ls_remote(f"{redirector}/{repo.name}.git", "main")
    assert "final URL" in str(info.value)


def test_git_is_pinned_to_the_validated_addresses(
    repo: TestRepo, git_http: GitHttpServer, tmp_path: Path
) -> None:
    # `.invalid` never resolves, so these calls work only through the pinned address.
    host = "pinned-git.invalid"
    pinned = ValidatedRepoUrl(
        url=f"http://{host}:{git_http.port}/{repo.name}.git",
        host=host,
        port=git_http.port,
        addresses=("127.0.0.1",),
    )
    assert ls_remote(pinned, "main") == repo.head()
    fetch_commit(pinned, repo.head(), tmp_path / "src", max_bytes=1 << 20)
    assert work_files(tmp_path / "src") == SITE
    with pytest.raises(SourceError, match="does not resolve"):
        ls_remote(pinned.url, "main")  # the same URL without the pin


def test_inherited_git_configuration_cannot_redirect_git(
    repo: TestRepo, git_http: GitHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = git_http.create_repo(unique("decoy"), {"index.html": "decoy"})
    # What a hostile or careless environment could carry: url rewriting via config.
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'url.{decoy.url}.insteadof'='{repo.url}'")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{decoy.url}.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", repo.url)
    assert ls_remote(repo.url, "main") == repo.head()


def test_allowed_loopback_url_round_trips_through_validation(
    repo: TestRepo, git_allow_hosts: tuple[str, ...], tmp_path: Path
) -> None:
    checked = validate_repo_url(repo.url, git_allow_hosts)
    commit = ls_remote(checked, "main")
    fetch_commit(checked, commit, tmp_path / "src", max_bytes=1 << 20)
    assert work_files(tmp_path / "src") == SITE


# -- fetch_commit -------------------------------------------------------------------


def test_a_pinned_commit_is_fetched_after_the_branch_moved_on(
    repo: TestRepo, tmp_path: Path
) -> None:
    pinned = ls_remote(repo.url, "main")
    repo.commit({"index.html": "<h1>two</h1>", "extra.html": "new"}, delete=["css/site.css"])
    dest = fetch_commit(repo.url, pinned, tmp_path / "src", max_bytes=1 << 20)
    assert dest == tmp_path / "src"
    assert work_files(dest) == SITE  # the old content, not the branch's new head


def test_a_server_that_refuses_single_commits_gets_a_deeper_fetch(
    git_http: GitHttpServer, tmp_path: Path
) -> None:
    old = git_http.create_repo(unique("v0"), SITE, protocol_v2=False)
    pinned = old.head()
    old.commit({"index.html": "<h1>two</h1>"})
    dest = fetch_commit(old.url, pinned, tmp_path / "src", max_bytes=1 << 20)
    assert work_files(dest) == SITE


def test_a_commit_that_no_longer_exists_says_so(repo: TestRepo, tmp_path: Path) -> None:
    doomed = repo.commit({"wip.html": "x"}, branch="wip")
    repo.delete_branch("wip")
    repo.prune()
    dest = tmp_path / "src"
    with pytest.raises(SourceError, match="no longer exists") as info:
        fetch_commit(repo.url, doomed, dest, max_bytes=1 << 20)
    assert doomed in str(info.value)
    assert not dest.exists()


def test_a_repository_over_the_limit_is_stopped(git_http: GitHttpServer, tmp_path: Path) -> None:
    big = git_http.create_repo(unique("big"), {"data.bin": os.urandom(3 * 1024 * 1024)})
    dest = tmp_path / "src"
    with pytest.raises(RepositoryTooLarge) as info:
        fetch_commit(big.url, big.head(), dest, max_bytes=1024 * 1024)
    message = str(info.value)
    assert "1048576 bytes" in message and "DP_MAX_REPO_BYTES" in message
    assert not dest.exists()


def test_files_that_expand_past_the_limit_are_stopped_before_checkout(
    git_http: GitHttpServer, tmp_path: Path
) -> None:
    # Compresses to a few KiB on the wire, but is 4 MiB on disk.
    zeros = git_http.create_repo(unique("zeros"), {"zeros.bin": bytes(4 * 1024 * 1024)})
    dest = tmp_path / "existing"
    dest.mkdir()
    with pytest.raises(RepositoryTooLarge, match="files of this commit"):
        fetch_commit(zeros.url, zeros.head(), dest, max_bytes=1024 * 1024)
    assert list(dest.iterdir()) == []  # an existing directory is left empty


def test_symlinks_are_checked_out_as_links_never_followed(repo: TestRepo, tmp_path: Path) -> None:
    commit = repo.symlink("leak", "/etc/passwd")
    dest = fetch_commit(repo.url, commit, tmp_path / "src", max_bytes=1 << 20)
    assert os.readlink(dest / "leak") == "/etc/passwd"


def test_fetch_refuses_a_non_sha_and_a_used_directory(repo: TestRepo, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="full commit SHA"):
        fetch_commit(repo.url, "main", tmp_path / "a", max_bytes=1 << 20)
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="new or empty"):
        fetch_commit(repo.url, repo.head(), used, max_bytes=1 << 20)
    assert (used / "keep.txt").read_text() == "mine"
