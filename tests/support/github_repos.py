"""Repositories at GitHub-shaped URLs (`/<owner>/<name>.git`) on the loopback git server.

GitHub serves a repository at `https://github.com/<owner>/<name>.git`; commit
statuses are posted to `/repos/<owner>/<name>/statuses/<sha>` for exactly that
owner and name. `git_http` serves one path segment per repository, so this
copies a fixture repository (as a bare clone) to `<owner>/<name>.git` under the
server's root; `git http-backend` serves nested paths as they are.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from tests.support.git_fixtures import GitHttpServer

__all__ = ["GitHubShapedRepo", "github_shaped_repo"]


@dataclass(frozen=True)
class GitHubShapedRepo:
    owner: str
    name: str
    url: str
    head: str  # the sha of the one commit


def github_shaped_repo(
    git_http: GitHttpServer,
    name: str,
    files: Mapping[str, str | bytes],
    owner: str = "acme",
    branch: str = "main",
) -> GitHubShapedRepo:
    """A repository whose `branch` holds `files`, served at /<owner>/<name>.git.

    Its default branch is `main`, as on GitHub: another `branch` is made from it
    (one more, empty commit), so a deploy of that branch is a preview."""
    repo = git_http.create_repo(name, files)
    if branch != "main":
        repo.commit({}, message=f"start {branch}", branch=branch)
    target = git_http.repos_root / owner / f"{name}.git"
    target.parent.mkdir(exist_ok=True)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(repo.bare), str(target)],
        env=git_http.env,
        check=True,
        capture_output=True,
    )
    return GitHubShapedRepo(
        owner, name, f"{git_http.base_url}/{owner}/{name}.git", repo.head(branch)
    )
