"""The deployment record: what `GET /api/deployments/<id>` answers.

Stored as JSON in Redis (see `storage/redis_state.py`). Stage timestamps are Unix seconds
(floats) so that durations are plain subtractions; `to_json` adds ISO strings
for people.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from deploy_platform.contracts.progress import (
    before_stage,
    clean_progress,
    milestone,
    with_milestone,
)

__all__ = [
    "Status",
    "SourceKind",
    "Environment",
    "Trigger",
    "DeploymentRecord",
    "TERMINAL",
    "MAX_SUBJECT",
    "commit_subject",
    "redacted_build",
]

#: A commit subject or author name longer than this is cut (lists show one line).
MAX_SUBJECT = 200


class Status(StrEnum):
    QUEUED = "queued"
    CLONING = "cloning"
    BUILDING = "building"
    PUBLISHING = "publishing"
    READY = "ready"
    FAILED = "failed"


TERMINAL = frozenset({Status.READY, Status.FAILED})


class SourceKind(StrEnum):
    GIT = "git"
    UPLOAD = "upload"


class Environment(StrEnum):
    PRODUCTION = "production"
    PREVIEW = "preview"


class Trigger(StrEnum):
    """What started a deployment's latest build (the record's `trigger`).

    Rollbacks and promotes build nothing: the alias move log records them
    (`deploy_platform.publish.alias_moves`).
    """

    API = "api"
    WEBHOOK = "webhook"
    UI_REMATERIALIZATION = "ui-rematerialization"


def commit_subject(text: str | None) -> str | None:
    """A commit message's first line (or an author's name), stripped and cut to
    MAX_SUBJECT characters; None when there is nothing to show."""
    if text is None:
        return None
    first = text.strip().split("\n", 1)[0].strip()
    if not first:
        return None
    return first if len(first) <= MAX_SUBJECT else first[: MAX_SUBJECT - 1] + "…"


def redacted_build(build: dict[str, Any]) -> dict[str, Any]:
    """Build settings fit to show: every build variable's value replaced by "***"."""
    shown = dict(build)
    env = shown.get("env")
    if isinstance(env, dict):
        shown["env"] = {str(name): "***" for name in env}
    elif env is not None:
        shown["env"] = "***"
    return shown


@dataclass(frozen=True)
class DeploymentRecord:
    id: str
    project: str
    source: SourceKind
    environment: Environment
    status: Status = Status.QUEUED
    repo_url: str | None = None
    ref: str | None = None
    commit: str | None = None
    # Aliases this deployment moves when it becomes ready (production alias, branch preview).
    aliases: tuple[str, ...] = ()
    urls: dict[str, str] = field(default_factory=dict)
    # status -> Unix time when the deployment entered it.
    timestamps: dict[str, float] = field(default_factory=dict)
    framework: str | None = None
    files: int | None = None
    bytes_total: int | None = None
    files_uploaded: int | None = None
    bytes_uploaded: int | None = None
    files_reused: int | None = None
    bytes_reused: int | None = None
    error: str | None = None
    trigger: str = Trigger.API.value
    # Where commit statuses go when not `repo_url`: a fork's pull request is built from
    # the fork, but GitHub shows statuses on the pull request of the base repository.
    status_repo_url: str | None = None
    # The deployment's build settings (`build.settings.BuildSettings.to_dict()`), env
    # values included because the build needs them; `to_public_dict` hides those.
    build: dict[str, Any] = field(default_factory=dict)
    # Set while the deployment waits to run again after an infrastructure fault (Redis,
    # the object store, a disk): {"component", "message", "error", "runs_failed",
    # "max_runs", "since", "next_run_at"} (see sensors/infra_retry.py); cleared when a
    # stage starts again and when the deployment is settled.
    retrying: dict[str, Any] | None = None
    # What was accepted but is worth fixing, one line each, in the order found: rule-file
    # lines skipped (`_redirects line 4: ...`), a lockfile out of date, no index.html.
    # Set by the build and publish stages; a deployment with warnings still goes live.
    warnings: tuple[str, ...] = ()
    # The deployed commit's subject (its message's first line, `commit_subject`) and its
    # author's name, for lists: read from git when the source is fetched, from the
    # webhook's payload, or sent by the CLI for an upload of a directory in a repository.
    commit_message: str | None = None
    commit_author: str | None = None
    # The run's milestones as they happen, oldest first, bounded (contracts/progress.py):
    # {"at", "stage", "step", "detail"}, e.g. {"stage": "building", "step": "install",
    # "detail": "npm ci (16.2 s)"}. A stage that starts (again) drops its own and later ones.
    progress: tuple[dict[str, Any], ...] = ()
    # While queued: what the deployment waits for, in a sentence (the Dagster daemon, a
    # build slot, its run's worker); set by the sensors, cleared when a stage starts.
    waiting: str | None = None

    def with_status(
        self, status: Status, *, at: float | None = None, **changes: Any
    ) -> DeploymentRecord:
        stamps = dict(self.timestamps)
        stamps[status.value] = time.time() if at is None else at
        if status is not Status.QUEUED:
            changes.setdefault("waiting", None)  # it waits only while queued
        return dataclasses.replace(self, status=status, timestamps=stamps, **changes)

    def replace(self, **changes: Any) -> DeploymentRecord:
        return dataclasses.replace(self, **changes)

    def with_milestone(
        self, stage: str, step: str, detail: str, *, at: float | None = None
    ) -> DeploymentRecord:
        entry = milestone(stage, step, detail, at)
        return dataclasses.replace(self, progress=with_milestone(self.progress, entry))

    def progress_before(self, stage: str) -> tuple[dict[str, Any], ...]:
        """The milestones that stay when `stage` starts (again): those of earlier stages."""
        return before_stage(self.progress, stage)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["aliases"] = list(self.aliases)
        data["warnings"] = list(self.warnings)
        data["progress"] = [dict(entry) for entry in self.progress]
        return data

    def to_public_dict(self) -> dict[str, Any]:
        """The API's answer: the record plus ISO times and durations, build secrets hidden."""
        data = self.to_dict()
        data["build"] = redacted_build(self.build)
        data["times"] = {
            name: datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
            for name, at in self.timestamps.items()
        }
        data["durations"] = self.durations()
        return data

    def durations(self) -> dict[str, float]:
        order = [s.value for s in Status if s.value in self.timestamps]
        out: dict[str, float] = {}
        for start, end in zip(order, order[1:], strict=False):
            out[start] = round(self.timestamps[end] - self.timestamps[start], 3)
        if (
            Status.QUEUED.value in self.timestamps
            and len(order) > 1
            and order[-1] in {s.value for s in TERMINAL}
        ):
            out["total"] = round(
                self.timestamps[order[-1]] - self.timestamps[Status.QUEUED.value], 3
            )
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["source"] = SourceKind(values["source"])
        values["environment"] = Environment(values["environment"])
        values["status"] = Status(values.get("status", Status.QUEUED))
        values["aliases"] = tuple(values.get("aliases") or ())
        values["warnings"] = tuple(str(w) for w in values.get("warnings") or ())
        values["progress"] = clean_progress(values.get("progress"))
        waiting = values.get("waiting")
        values["waiting"] = str(waiting) if waiting else None
        return cls(**values)

    @classmethod
    def from_json(cls, text: str | bytes) -> DeploymentRecord:
        return cls.from_dict(json.loads(text))
