"""Two small questions about a remote repository, asked without cloning it.

- `remote_head`: the branch the repository's HEAD names (`git ls-remote --symref
  <url> HEAD`), the branch a new project deploys to production;
- `commit_message`: the message of one commit. A GitHub `pull_request` delivery
  names its head commit but not its message, and a skip marker in that message
  (`deploy_platform.github.webhooks.plan.skip_marker`) must skip its deployment
  as it does a push's. Only the commit object is fetched when the server filters
  (`--filter=tree:0`, as GitHub does); one that does not sends the commit's
  snapshot (depth 1), bounded by `max_bytes`.
- `read_commit`: the message and author of a commit already fetched (the
  deployment's source, `remote.fetch_commit`), for the deployments list.

Both go through the hardened `GitSession`, like `ls_remote` and `fetch_commit`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.contracts.errors import InvalidRequest, SourceError
from deploy_platform.source.git.errors import explain, is_transport_failure
from deploy_platform.source.git.process import Deadline, Result, SizeWatch
from deploy_platform.source.git.session import GitSession, Target
from deploy_platform.source.refs import is_commit_sha, validate_ref
from deploy_platform.source.repo_url import ValidatedRepoUrl

__all__ = ["CommitInfo", "RemoteHead", "commit_message", "read_commit", "remote_head"]

# How far back a branch is fetched to find a pull request's head commit (commits only).
_BRANCH_DEPTH = 50


@dataclass(frozen=True)
class RemoteHead:
    """What the repository's HEAD names: its default branch and that branch's commit
    (each None when the server does not say: an empty repository, a detached HEAD)."""

    branch: str | None
    commit: str | None


def remote_head(url: str | ValidatedRepoUrl, *, timeout: float = 30) -> RemoteHead:
    """The repository's default branch, from `git ls-remote --symref <url> HEAD`.

    Raises `SourceError` when the repository cannot be read."""
    target = Target.of(url)
    deadline = Deadline.after(timeout)
    with GitSession(target) as session:
        result = session.checked(
            ["ls-remote", "--symref", "--", target.url, "HEAD"], deadline, "ls-remote"
        )
    branch = commit = None
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        # `ref: refs/heads/master<TAB>HEAD`, then `<sha><TAB>HEAD`
        value, _, name = line.partition("\t")
        if name != "HEAD":
            continue
        if value.startswith("ref: refs/heads/"):
            try:
                branch = validate_ref(value.removeprefix("ref: refs/heads/"))
            except InvalidRequest:  # a name git itself would refuse: unknown
                branch = None
        elif is_commit_sha(value):
            commit = value.lower()
    return RemoteHead(branch, commit if branch is not None else None)


@dataclass(frozen=True)
class CommitInfo:
    """A commit's whole message and its author's name (from the `author` header)."""

    message: str
    author: str | None


def _parse_commit(raw: bytes) -> CommitInfo:
    """`git cat-file commit`'s output: headers, a blank line, the message."""
    headers, _, message = raw.decode("utf-8", "replace").partition("\n\n")
    author: str | None = None
    for line in headers.splitlines():
        if line.startswith("author "):
            # `author Ada Lovelace <ada@example.com> 1700000000 +0000`
            author = line.removeprefix("author ").rsplit("<", 1)[0].strip() or None
            break
    return CommitInfo(message, author)


def read_commit(
    url: str | ValidatedRepoUrl, commit: str, git_dir: Path, *, timeout: float = 10
) -> CommitInfo:
    """The message and author of `commit` in the fetched repository at `git_dir`.

    Raises `SourceError` when it is not there."""
    deadline = Deadline.after(timeout)
    with GitSession(Target.of(url), git_dir=git_dir) as session:
        shown = session.run(["cat-file", "commit", commit.lower()], deadline)
    if shown.returncode != 0:
        raise SourceError(f"commit {commit} cannot be read from the fetched repository")
    return _parse_commit(shown.stdout)


def commit_message(
    url: str | ValidatedRepoUrl,
    commit: str,
    *,
    branch: str | None = None,
    max_bytes: int,
    timeout: float = 10,
) -> str:
    """The message of `commit` in the repository at `url` (its subject, a blank line, its body).

    `branch` (a branch that holds the commit) is fetched instead when the server
    refuses to hand out a commit by its id (protocol v0 without
    `allowReachableSHA1InWant`). Raises `SourceError` when the commit cannot be read.
    """
    if not is_commit_sha(commit):
        raise SourceError(f"{commit!r} is not a full commit SHA")
    commit = commit.lower()
    target = Target.of(url)
    deadline = Deadline.after(timeout)
    with tempfile.TemporaryDirectory(prefix="dp-commit-") as tmp:
        git_dir = Path(tmp) / "repo.git"
        with GitSession(target, git_dir=git_dir) as session:
            object_format = "sha256" if len(commit) == 64 else "sha1"
            session.checked(
                ["init", "-q", "--bare", "--template=", f"--object-format={object_format}"],
                deadline,
                "init",
            )
            watch = SizeWatch(session.git_dir_bytes, max_bytes)
            fetched = _fetch(session, f"+{commit}:refs/dp/commit", deadline, watch, depth=1)
            if fetched.returncode != 0 and branch is not None:
                if is_transport_failure(fetched.stderr):
                    raise SourceError(explain(fetched.stderr, target.display, "fetch"))
                # The branch may have moved on since the event: some history, still no trees.
                refspec = f"+refs/heads/{validate_ref(branch)}:refs/dp/branch"
                fetched = _fetch(session, refspec, deadline, watch, depth=_BRANCH_DEPTH)
            if fetched.returncode != 0:
                raise SourceError(explain(fetched.stderr, target.display, "fetch"))
            shown = session.run(["cat-file", "commit", commit], deadline)
            if shown.returncode != 0:
                raise SourceError(f"commit {commit} is not in {target.display} (anymore)")
    return _parse_commit(shown.stdout).message


def _fetch(
    session: GitSession, refspec: str, deadline: Deadline, watch: SizeWatch, depth: int
) -> Result:
    return session.run(
        [
            "fetch",
            "-q",
            f"--depth={depth}",
            "--filter=tree:0",
            "--no-tags",
            "--",
            session.target.url,
            refspec,
        ],
        deadline,
        watch,
    )
