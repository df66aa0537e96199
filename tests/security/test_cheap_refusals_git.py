"""A repository whose tree goes past the path limits is refused before checkout, naming
the limit (the deployment fails with that message), against the real smart-HTTP git
server on loopback."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy_platform.contracts.errors import SourceError
from deploy_platform.contracts.tree_limits import MAX_PATH_BYTES, MAX_PATH_DEPTH
from deploy_platform.source.git.remote import fetch_commit
from tests.support.api_fixtures import unique_name
from tests.support.git_fixtures import TestRepo


def commit_path(repo: TestRepo, path: str, content: bytes) -> str:
    """Add `path` on the server's main branch with git fast-import: a tree of any depth,
    which no work tree could hold. Returns the new commit."""
    parent = repo.head()
    stream = (
        b"commit refs/heads/main\n"
        b"committer Fixture <fixture@example.com> 0 +0000\n"
        b"data 4\ndeep\n"
        + f"from {parent}\n".encode()
        + f"M 100644 inline {path}\n".encode()
        + f"data {len(content)}\n".encode()
        + content
        + b"\n"
    )
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo.bare, env=repo.env, input=stream, check=True
    )
    return repo.head()


@pytest.mark.parametrize(
    "path, says",
    [
        ("/".join(["d"] * 1200) + "/index.html", f"the limit is {MAX_PATH_DEPTH} levels"),
        ("/".join(["n" * 200] * 6) + "/index.html", f"the limit is {MAX_PATH_BYTES} bytes"),
    ],
    ids=["1200-levels", "1200-bytes"],
)
def test_a_tree_past_the_path_limits_is_refused_before_checkout(
    git_http: Any, tmp_path: Path, path: str, says: str
) -> None:
    repo = git_http.create_repo(unique_name("deep"), {"index.html": "top"})
    commit = commit_path(repo, path, b"deep")
    dest = tmp_path / "src"

    with pytest.raises(SourceError) as caught:
        fetch_commit(repo.url, commit, dest, max_bytes=1 << 20)

    assert says in str(caught.value)
    assert "deploy-platform's limits" in str(caught.value)
    assert not dest.exists()  # nothing left behind


def test_a_tree_within_the_limits_is_checked_out(git_http: Any, tmp_path: Path) -> None:
    path = "/".join(["d"] * (MAX_PATH_DEPTH - 1)) + "/index.html"
    repo = git_http.create_repo(unique_name("deep-ok"), {"index.html": "top"})
    commit = commit_path(repo, path, b"deep")

    fetch_commit(repo.url, commit, tmp_path / "src", max_bytes=1 << 20)

    assert (tmp_path / "src" / path).read_text() == "deep"
