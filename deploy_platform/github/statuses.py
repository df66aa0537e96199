"""Commit statuses for deployments: an ordered, retried outbox in Redis (dagster-free).

A deployment of a commit from a repository on the configured GitHub
(`deploy_platform.github.status_api`) marks that commit on GitHub:

  pending   when it is queued                 control API, after the id is enqueued
  success   when it is live, linking its URL  published_deployment, after the aliases moved
  failure   with the reason                   the asset that failed, or the run-failure
                                              sensor when the run died without saying why

under the context `<DP_GITHUB_STATUS_CONTEXT>/<project>` (default `deploy-platform/<project>`),
so several projects built from one repository do not overwrite each other's status.
`success` links the alias URL the deployment moved (`<branch>--<project>.D` or
`<project>.D`), or its immutable `<id>.D` when it moved none (a later push holds the
alias). Deployments without a commit (uploads) or from other hosts are skipped
quietly; without DP_GITHUB_TOKEN nothing is posted and that is logged once.

Keys, under the platform's Redis prefix P:
  P commit-status:<id>       JSON `StatusEntry`: the status the deployment wants on
                             GitHub, its version, and delivery bookkeeping (kept 7 days)
  P commit-status-due        sorted set: deployment id -> when to post (again)
  P commit-status-lock:<id>  held by the one process posting for that deployment

Writing a status and posting it are separate. A write (one Redis transaction)
stores the wanted status with the next version and makes it due now; then the
writer tries to post at once. Posting happens only under the deployment's lock
and always sends the newest version: the holder posts, then marks that version
delivered only if no newer one arrived meanwhile, else posts the newer one
before letting go, and looks once more after releasing (a writer that found the
lock taken left its version for the holder). So GitHub receives a deployment's
statuses in the order they were written, and a `pending` is only ever written
first: one that arrives late (after `success` or `failure`) is dropped.

A failed post never fails or delays a deployment beyond its one attempt: it is
logged, and a retryable failure (GitHub unreachable, 5xx, rate limited) stays
due after a backoff (5 s, 15 s, 30 s, 1, 2, 5, 10, 10 min; longer if GitHub
says Retry-After), retried by `commit_status_sensor`; after the last attempt,
or on a failure that cannot pass by retrying (bad token, unknown repository,
refused body), the entry keeps the error and is not tried again. Every public
method catches everything and answers a short outcome for logs and metadata.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

import redis
from redis.lock import Lock

from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.github.status_api import (
    MAX_DESCRIPTION,
    CommitStatus,
    GitHubConfig,
    GitHubRepo,
    GitHubStatuses,
    StatusPostError,
    StatusState,
    github_repo,
    is_commit_sha,
)
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "BACKOFF_SECONDS",
    "StatusEntry",
    "CommitStatusReporter",
    "describe_failure",
    "success_url",
    "say_disabled_once",
]

BACKOFF_SECONDS: tuple[float, ...] = (5, 15, 30, 60, 120, 300, 600, 600)
_ENTRY_TTL_SECONDS = 7 * 24 * 3600
_log = logging.getLogger(__name__)
_disabled_said = False


def say_disabled_once(log: Callable[[str], object]) -> None:
    """Tell once per process that statuses are off, so every deploy does not repeat it."""
    global _disabled_said
    if not _disabled_said:
        _disabled_said = True
        log("commit statuses are off: DP_GITHUB_TOKEN is not set")


@dataclass(frozen=True)
class StatusEntry:
    """What one deployment wants on GitHub, and how posting it went."""

    version: int
    owner: str
    repo: str
    sha: str
    status: CommitStatus
    due: float | None  # when to post; None: nothing to post (delivered, or given up)
    attempts: int = 0
    delivered: int = 0  # the last version GitHub stored
    error: str | None = None

    @property
    def github_repo(self) -> GitHubRepo:
        return GitHubRepo(self.owner, self.repo)

    def is_due(self, now: float) -> bool:
        return self.due is not None and self.due <= now

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.body() | {"target_url": self.status.target_url}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> StatusEntry:
        data: dict[str, Any] = json.loads(raw)
        body = data.pop("status")
        status = CommitStatus(
            state=StatusState(body["state"]),
            description=body["description"],
            context=body["context"],
            target_url=body.get("target_url"),
        )
        return cls(status=status, **data)


def describe_failure(reason: str | None) -> str:
    """The failure's reason as GitHub will take it: one line, at most 140 characters."""
    text = " ".join((reason or "the deployment failed").split())
    return _fit(f"Failed: {text}")


def _fit(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def success_url(record: DeploymentRecord, moved_aliases: bool) -> str | None:
    """The URL a reviewer wants: the alias this deployment now serves, else its own."""
    if moved_aliases:
        named = record.urls.get(record.environment.value)
        if named:
            return named
        others = [url for name, url in sorted(record.urls.items()) if name != "deployment"]
        if others:
            return others[0]
    return record.urls.get("deployment")


class CommitStatusReporter:
    """Writes and posts the statuses of deployments (see the module docstring)."""

    def __init__(
        self,
        config: GitHubConfig,
        state: PlatformState,
        warn: Callable[[str], object] | None = None,
        *,
        backoff: Sequence[float] = BACKOFF_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.client = GitHubStatuses(config)
        self.state = state
        self.warn = warn or _log.warning
        self.backoff = tuple(backoff)
        self.clock = clock

    # -- what callers use ------------------------------------------------------------
    def queued(self, record: DeploymentRecord, *, post: bool = True) -> str:
        """`pending`, unless the deployment already has a status; post it now if `post`."""
        status = self._status(record, StatusState.PENDING, f"Queued: {self._what(record)}", None)
        return self._report(record, status, first_only=True, post=post)

    def succeeded(self, record: DeploymentRecord, target_url: str | None) -> str:
        description = _fit(f"Ready: {self._what(record)}")
        status = self._status(record, StatusState.SUCCESS, description, target_url)
        return self._report(record, status, first_only=False, post=True)

    def failed(self, record: DeploymentRecord, reason: str | None = None) -> str:
        description = describe_failure(reason or record.error)
        status = self._status(record, StatusState.FAILURE, description, None)
        return self._report(record, status, first_only=False, post=True)

    def deliver(self, deployment_id: str, now: float | None = None) -> str:
        """Post the deployment's due status (and any newer one); the last outcome. Never raises."""
        try:
            return self._deliver(deployment_id, now)
        except Exception as exc:  # noqa: BLE001 - a status problem must never fail a deploy
            message = f"commit status of {deployment_id} not posted: {exc!r}"
            self.warn(message)
            return message

    def retry_due(
        self, now: float | None = None, *, limit: int = 100, budget_seconds: float = 30.0
    ) -> list[str]:
        """Post the statuses whose retry is due (oldest first); their outcomes."""
        deadline = time.monotonic() + budget_seconds
        due = self.state.redis.zrangebyscore(
            self._due_key(), "-inf", self._now(now), start=0, num=limit
        )
        outcomes = []
        for raw in due:
            if time.monotonic() > deadline:
                break
            deployment_id = raw.decode()
            if self.entry(deployment_id) is None:  # expired: nothing left to post
                self.state.redis.zrem(self._due_key(), deployment_id)
                continue
            outcomes.append(self.deliver(deployment_id, now))
        return outcomes

    def entry(self, deployment_id: str) -> StatusEntry | None:
        raw = self.state.redis.get(self._entry_key(deployment_id))
        return None if raw is None else StatusEntry.from_json(raw)

    def covers(self, record: DeploymentRecord) -> bool:
        """Whether the deployment gets statuses (a commit of a repository on this GitHub)."""
        return not isinstance(self._commit_of(record), str)

    # -- writing ---------------------------------------------------------------------
    def _commit_of(self, record: DeploymentRecord) -> tuple[GitHubRepo, str] | str:
        """The repository and sha to mark, or why there are none."""
        repo_url = record.status_repo_url or record.repo_url
        repo = github_repo(repo_url, self.config.web_host)
        if repo is None:
            return (
                f"no commit status: {repo_url or 'an upload'} is not a repository "
                f"on {self.config.web_host}"
            )
        if record.commit is None or not is_commit_sha(record.commit):
            return f"no commit status: no commit sha recorded for {record.id}"
        return repo, record.commit

    def _what(self, record: DeploymentRecord) -> str:
        return f"{record.environment.value} deployment {record.id}"

    def _status(
        self,
        record: DeploymentRecord,
        state: StatusState,
        description: str,
        target_url: str | None,
    ) -> CommitStatus:
        context = f"{self.config.context}/{record.project}"
        return CommitStatus(state, _fit(description), context, target_url)

    def _report(
        self, record: DeploymentRecord, status: CommitStatus, *, first_only: bool, post: bool
    ) -> str:
        try:
            target = self._commit_of(record)
            if isinstance(target, str):
                return target
            written = self._write(record.id, *target, status, first_only)
        except Exception as exc:  # noqa: BLE001 - a status problem must never fail a deploy
            message = f"commit status {status.state.value} of {record.id} not stored: {exc!r}"
            self.warn(message)
            return message
        if not written:
            return f"commit status {status.state.value} not posted: {record.id} has a later one"
        if not post:
            return f"commit status {status.state.value} of {record.id} queued"
        return self.deliver(record.id)

    def _write(
        self,
        deployment_id: str,
        repo: GitHubRepo,
        sha: str,
        status: CommitStatus,
        first_only: bool,
    ) -> bool:
        def change(current: StatusEntry | None) -> StatusEntry | None:
            if current is not None and first_only:
                return None  # a late `pending` never follows `success` or `failure`
            if current is not None and current.status == status and current.sha == sha:
                return None  # already wanted (the sensor repeating an asset's failure)
            return StatusEntry(
                version=1 if current is None else current.version + 1,
                owner=repo.owner,
                repo=repo.name,
                sha=sha,
                status=status,
                due=self.clock(),
                delivered=0 if current is None else current.delivered,
            )

        return self._update(deployment_id, change) is not None

    def _update(
        self, deployment_id: str, change: Callable[[StatusEntry | None], StatusEntry | None]
    ) -> StatusEntry | None:
        """Apply `change` to the entry under WATCH; None from it means leave it as it is."""
        key = self._entry_key(deployment_id)
        while True:
            with self.state.redis.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = cast(bytes | None, pipe.get(key))
                    updated = change(None if raw is None else StatusEntry.from_json(raw))
                    if updated is None:
                        pipe.unwatch()
                        return None
                    pipe.multi()
                    pipe.set(key, updated.to_json(), ex=_ENTRY_TTL_SECONDS)
                    if updated.due is None:
                        pipe.zrem(self._due_key(), deployment_id)
                    else:
                        pipe.zadd(self._due_key(), {deployment_id: updated.due})
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue

    # -- posting ---------------------------------------------------------------------
    def _deliver(self, deployment_id: str, now: float | None) -> str:
        outcome = f"commit status of {deployment_id}: nothing due"
        tried: set[int] = set()  # one attempt per version and call: retries wait their turn
        while True:
            lock = self._lock(deployment_id)
            if not lock.acquire(blocking=False):
                # The holder posts our version too: it looks again before letting go.
                return f"commit status of {deployment_id} queued (another process is posting)"
            try:
                outcome = self._drain(deployment_id, now, tried) or outcome
            finally:
                _release(lock)
            entry = self.entry(deployment_id)
            if entry is None or entry.version in tried or not entry.is_due(self._now(now)):
                return outcome

    def _drain(self, deployment_id: str, now: float | None, tried: set[int]) -> str | None:
        """Under the lock: post the newest due version until nothing new is due."""
        outcome = None
        while True:
            entry = self.entry(deployment_id)
            if entry is None or entry.version in tried or not entry.is_due(self._now(now)):
                return outcome
            tried.add(entry.version)
            try:
                self.client.post(entry.github_repo, entry.sha, entry.status)
            except StatusPostError as exc:
                outcome = self._after_failure(deployment_id, entry, exc, self._now(now))
                continue  # a newer version may have arrived meanwhile
            self._mark_delivered(deployment_id, entry.version)
            outcome = (
                f"commit status {entry.status.state.value} posted to "
                f"{entry.github_repo}@{entry.sha[:12]} ({entry.status.context})"
            )

    def _mark_delivered(self, deployment_id: str, version: int) -> None:
        def change(current: StatusEntry | None) -> StatusEntry | None:
            if current is None or current.version != version:
                return None  # a newer version arrived while posting: the drain posts it next
            return replace(current, due=None, attempts=0, delivered=version, error=None)

        self._update(deployment_id, change)

    def _after_failure(
        self, deployment_id: str, entry: StatusEntry, error: StatusPostError, at: float
    ) -> str:
        attempts = entry.attempts + 1
        if error.retryable and attempts <= len(self.backoff):
            delay = max(self.backoff[attempts - 1], error.retry_after or 0.0)
            due: float | None = at + delay
            outcome = (
                f"commit status {entry.status.state.value} of {deployment_id} not posted "
                f"(attempt {attempts}): {error}; retrying in {delay:g} s"
            )
        else:
            due = None
            why = f"after {attempts} attempts" if error.retryable else "(retrying cannot help)"
            outcome = (
                f"commit status {entry.status.state.value} of {deployment_id} not posted, "
                f"giving up {why}: {error}"
            )
        self._update(
            deployment_id,
            lambda current: (
                replace(current, due=due, attempts=attempts, error=str(error))
                if current is not None and current.version == entry.version
                else None
            ),
        )
        self.warn(outcome)
        return outcome

    # -- keys --------------------------------------------------------------------------
    def _now(self, now: float | None) -> float:
        return self.clock() if now is None else now

    def _entry_key(self, deployment_id: str) -> str:
        return self.state.key("commit-status", deployment_id)

    def _due_key(self) -> str:
        return self.state.key("commit-status-due")

    def _lock(self, deployment_id: str) -> Lock:
        # Longer than one post can take (its timeout), so only a dead holder loses it.
        return self.state.redis.lock(
            self.state.key("commit-status-lock", deployment_id),
            timeout=3 * self.config.timeout_seconds + 5,
        )


def _release(lock: Lock) -> None:
    try:
        lock.release()
    except redis.exceptions.LockError:
        pass  # it expired (the holder was too slow): the next writer or retry takes over
