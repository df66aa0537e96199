"""Resolve a ref to a commit, fetch one commit: the two things the platform asks of git.

The control API resolves refs at enqueue time (`ls_remote`) and the Git source
resource fetches at run time (`fetch_commit`), both over HTTP(S) through a
hardened `GitSession`. Pass the `ValidatedRepoUrl` from `validate_repo_url` to pin
git to the addresses that were checked.
"""

from __future__ import annotations

import re
from pathlib import Path

from deploy_platform.contracts.errors import SourceError
from deploy_platform.source.archive.tree import undone_on_failure
from deploy_platform.source.git.errors import RefNotFound, explain, is_transport_failure
from deploy_platform.source.git.limits import check_paths, check_size, tree_blob_bytes
from deploy_platform.source.git.process import Deadline, SizeWatch
from deploy_platform.source.git.session import GitSession, Target
from deploy_platform.source.refs import is_commit_sha, validate_ref
from deploy_platform.source.repo_url import ValidatedRepoUrl

__all__ = ["fetch_commit", "ls_remote"]

_MAX_BRANCHES_SHOWN = 5


def ls_remote(url: str | ValidatedRepoUrl, ref: str, *, timeout: float = 30) -> str:
    """The full commit SHA that `ref` names in the repository at `url`.

    `ref` may be a branch (`main`, preferred over a tag of the same name because
    deployments follow branches), a tag (annotated tags are peeled to their commit),
    a full ref (`refs/heads/x`, `refs/tags/v1`), `HEAD`, or a full commit SHA, which
    is taken as-is once the repository answers. Raises `RefNotFound` naming some
    branches that exist when `ref` names none.
    """
    validate_ref(ref)
    target = Target.of(url)
    deadline = Deadline.after(timeout)
    with GitSession(target) as session:
        if is_commit_sha(ref):
            _refs(session, ["--", target.url, "HEAD"], deadline)
            return ref.lower()
        if ref == "HEAD" or ref.startswith("refs/"):
            # Patterns match whole names, so ask for the peeled tag line too.
            refs = _refs(session, ["--", target.url, ref, f"{ref}^{{}}"], deadline)
            candidates = [ref]
        else:
            refs = _refs(session, ["--heads", "--tags", "--", target.url], deadline)
            candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        for name in candidates:
            sha = refs.get(f"{name}^{{}}") or refs.get(name)
            if sha:
                return sha
        if ref == "HEAD" or ref.startswith("refs/"):
            refs = _refs(session, ["--heads", "--", target.url], deadline)
    branches = sorted(
        name.removeprefix("refs/heads/") for name in refs if name.startswith("refs/heads/")
    )
    if not branches:
        raise RefNotFound(
            f"ref {ref!r} does not exist: the repository at {target.display} has no branches "
            "yet; push a commit first"
        )
    shown = ", ".join(branches[:_MAX_BRANCHES_SHOWN])
    extra = len(branches) - _MAX_BRANCHES_SHOWN
    more = f" and {extra} more" if extra > 0 else ""
    looks_like_short_sha = re.fullmatch(r"[0-9a-f]{7,39}", ref) is not None
    hint = "; to deploy a commit, give its full 40-character SHA" if looks_like_short_sha else ""
    raise RefNotFound(
        f"ref {ref!r} is not a branch or tag in {target.display}; "
        f"branches there: {shown}{more}{hint}"
    )


def fetch_commit(
    url: str | ValidatedRepoUrl,
    commit: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float = 600,
) -> Path:
    """Fetch exactly `commit` into a fresh repository at `dest` and check it out.

    Returns `dest` (the work tree, with its `.git` inside). Raises
    `RepositoryTooLarge` when the download or the checked-out files exceed
    `max_bytes`, and `SourceError` when the commit is gone or the server fails.
    On any failure `dest` is left empty (or removed when this call created it).
    """
    if not is_commit_sha(commit):
        raise SourceError(f"{commit!r} is not a full commit SHA; resolve the ref first")
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    commit = commit.lower()
    target = Target.of(url)
    created = not dest.exists()
    if not created and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest} must be a new or empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    deadline = Deadline.after(timeout)
    with (
        undone_on_failure(dest, created=created),
        GitSession(target, git_dir=dest / ".git", work_tree=dest) as session,
    ):
        _fetch(session, commit, max_bytes, deadline)
    return dest


def _refs(session: GitSession, args: list[str], deadline: Deadline) -> dict[str, str]:
    """Ref name -> commit, from `git ls-remote <args>`."""
    result = session.checked(["ls-remote", *args], deadline, "ls-remote")
    refs: dict[str, str] = {}
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        sha, _, name = line.partition("\t")
        if is_commit_sha(sha) and name:
            refs[name] = sha.lower()
    return refs


def _fetch(session: GitSession, commit: str, max_bytes: int, deadline: Deadline) -> None:
    """Init, fetch `commit` (shallow, else with history), check sizes and paths, check out."""
    object_format = "sha256" if len(commit) == 64 else "sha1"
    session.checked(
        ["init", "-q", "--template=", f"--object-format={object_format}"], deadline, "init"
    )
    url = session.target.url
    download = SizeWatch(session.git_dir_bytes, max_bytes)
    shallow = session.run(
        ["fetch", "-q", "--depth=1", "--no-tags", "--", url, f"+{commit}:refs/dp/source"],
        deadline,
        download,
    )
    if shallow.returncode != 0:
        if is_transport_failure(shallow.stderr):
            raise SourceError(explain(shallow.stderr, session.target.display, "fetch"))
        # The server refused to hand out that commit by itself (protocol v0 without
        # allowReachableSHA1InWant, or the commit is gone): fetch the branches and
        # tags with history and look for it there.
        deep = session.run(
            [
                "fetch",
                "-q",
                "--no-tags",
                "--",
                url,
                "+refs/heads/*:refs/dp/heads/*",
                "+refs/tags/*:refs/dp/tags/*",
            ],
            deadline,
            download,
        )
        if deep.returncode != 0:
            raise SourceError(explain(deep.stderr, session.target.display, "fetch"))
    check_size("download", session.git_dir_bytes(), max_bytes)
    present = session.run(["cat-file", "-e", f"{commit}^{{commit}}"], deadline)
    if present.returncode != 0:
        raise SourceError(
            f"commit {commit} no longer exists in {session.target.display} (a force-push or "
            "a deleted branch removed it); deploy a branch, tag or commit that exists"
        )
    listing = session.checked(
        ["ls-tree", "-r", "-l", "-z", "--full-tree", commit], deadline, "ls-tree"
    )
    check_size("files", tree_blob_bytes(listing.stdout), max_bytes)
    check_paths(listing.stdout)
    session.checked(
        ["checkout", "-q", "--detach", commit],
        deadline,
        "checkout",
        SizeWatch(session.work_tree_bytes, max_bytes, subject="files"),
    )
    check_size("files", session.work_tree_bytes(), max_bytes)
