"""`GitSourceResource`: resolve refs and fetch pinned commits as source archives."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from deploy_platform.contracts.errors import InvalidRequest, SourceError
from deploy_platform.contracts.records import commit_subject
from deploy_platform.source.archive.pack import pack_directory
from deploy_platform.source.git.commits import CommitInfo, read_commit
from deploy_platform.source.git.remote import fetch_commit, ls_remote
from deploy_platform.source.refs import is_commit_sha
from deploy_platform.source.repo_url import ValidatedRepoUrl, validate_repo_url

__all__ = ["FetchedArchive", "GitSourceResource"]

_LS_REMOTE_TIMEOUT = 30.0


@dataclass(frozen=True)
class FetchedArchive:
    """A commit's work tree (without `.git`) packed as a gzip tar."""

    commit: str
    files: int
    bytes: int
    archive_bytes: int
    # The commit's subject (first line of its message) and author, for the deployments
    # list; None when they could not be read (the deployment goes on without them).
    message: str | None = None
    author: str | None = None


class GitSourceResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Git over HTTP(S), hardened (see `deploy_platform.source.git.session`).

    Every call validates the URL again, with this resource's allow list, so a
    deployment queued before the operator narrowed `DP_GIT_ALLOW_HOSTS` is refused,
    and git is pinned to the addresses checked a moment before.
    """

    allow_hosts: str = ""
    max_repo_bytes: int = 536870912
    timeout_seconds: int = 600

    def resolve(self, url: str, ref: str) -> str:
        """The full commit SHA that `ref` names in the repository at `url`."""
        repo = self._validated(url)
        try:
            return ls_remote(repo, ref, timeout=min(_LS_REMOTE_TIMEOUT, self.timeout_seconds))
        except InvalidRequest as exc:
            raise SourceError(str(exc)) from None

    def fetch_archive(self, url: str, commit: str, dest_tar: Path) -> FetchedArchive:
        """Fetch exactly `commit` and pack its work tree (no `.git`) into `dest_tar`."""
        if not is_commit_sha(commit):
            raise SourceError(f"{commit!r} is not a full commit SHA; resolve the ref first")
        repo = self._validated(url)
        with tempfile.TemporaryDirectory(prefix="dp-git-") as tmp:
            work = fetch_commit(
                repo,
                commit,
                Path(tmp) / "work",
                max_bytes=self.max_repo_bytes,
                timeout=self.timeout_seconds,
            )
            stats = pack_directory(work, Path(dest_tar), exclude=(".git",))
            try:
                info: CommitInfo | None = read_commit(repo, commit, work / ".git")
            except SourceError:
                info = None
        return FetchedArchive(
            commit=commit.lower(),
            files=stats.files,
            bytes=stats.bytes,
            archive_bytes=Path(dest_tar).stat().st_size,
            message=commit_subject(info.message) if info else None,
            author=commit_subject(info.author) if info else None,
        )

    def _validated(self, url: str) -> ValidatedRepoUrl:
        try:
            return validate_repo_url(url, self.allow_hosts)
        except InvalidRequest as exc:
            raise SourceError(str(exc)) from None
        except ValueError as exc:  # a bad DP_GIT_ALLOW_HOSTS entry: the operator's to fix
            raise SourceError(str(exc)) from None
