"""Running a deployment again after an infrastructure fault, and giving up clearly.

A run whose step failed with an `InfrastructureError` (Redis, the object store or a
disk still failing after the clients' own retries; deploy_platform.contracts.errors) did
nothing wrong: `deployment_recovery_sensor` starts a new run of the same partition
(run_key `infra-retry-of-<run id>`, tagged `deploy/infra_retry=<n>`) as soon as
the component answers a health check again, or at the latest after a backoff
(`DP_INFRA_RETRY_SECONDS`, doubling per failed run, at most 5 minutes), up to
`DP_INFRA_RETRIES` times (3 by default). Meanwhile the record stays unfinished with
a `retrying` note saying what it waits for. Once the limit is passed the deployment
is failed with a message naming the component, what was tried and the last error:

  the object store (s3://sites at http://127.0.0.1:8333) did not answer: 4 runs
  over 3 min 40 s (each after retrying its calls), last error: cannot write ...

A build's own failure (BuildFailed and the like) is never retried this way.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

import deploy_platform.storage  # noqa: F401 - registers the store's infrastructure errors
from deploy_platform.contracts.errors import (
    COMPONENTS,
    INFRASTRUCTURE_ERRORS,
    parse_infrastructure_message,
)
from deploy_platform.contracts.tags import iso_time

__all__ = [
    "InfraFailure",
    "InfraRetryPolicy",
    "InfraDecision",
    "infra_failure_of",
    "run_infra_failure",
    "decide",
    "retrying_note",
    "disk_writable",
    "duration_text",
]

_PROBE_BYTES = 256 * 1024


@dataclass(frozen=True)
class InfraFailure:
    """The infrastructure fault a run failed with."""

    component: str  # redis, object-store, disk
    target: str  # what exactly: s3://bucket at <endpoint>, redis://host:port/db, a path
    detail: str  # the last error, one line

    @property
    def label(self) -> str:
        return COMPONENTS[self.component].label

    @property
    def headline(self) -> str:
        cls = COMPONENTS[self.component]
        return f"{cls.label} ({self.target}) {cls.verb}"


@dataclass(frozen=True)
class InfraRetryPolicy:
    """How often and how soon: `max_retries` new runs, the n-th at the latest
    `backoff_seconds` * 2**(n-1) (at most `max_backoff_seconds`) after the failure,
    sooner once the component answers (but not within `settle_seconds`)."""

    max_retries: int = 3
    backoff_seconds: float = 30.0
    max_backoff_seconds: float = 300.0
    settle_seconds: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InfraRetryPolicy:
        env = os.environ if environ is None else environ
        policy = cls()
        retries = _number(env, "DP_INFRA_RETRIES", int)
        backoff = _number(env, "DP_INFRA_RETRY_SECONDS", float)
        return cls(
            max_retries=policy.max_retries if retries is None else max(0, int(retries)),
            backoff_seconds=policy.backoff_seconds if backoff is None else max(0.0, backoff),
        )

    def backoff(self, failures: int) -> float:
        return float(
            min(self.max_backoff_seconds, self.backoff_seconds * 2.0 ** max(0, failures - 1))
        )


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float]) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        return None  # a typo must not stop the sensor; the default applies


def infra_failure_of(errors: Iterable[Any]) -> InfraFailure | None:
    """The first infrastructure error in Dagster's error chains (SerializableErrorInfo)."""
    for error in errors:
        seen = 0
        while error is not None and seen < 20:
            seen += 1
            cls_name = str(getattr(error, "cls_name", "") or "")
            cls = INFRASTRUCTURE_ERRORS.get(cls_name)
            if cls is not None:
                message = _without_class(str(getattr(error, "message", "") or ""), cls_name)
                parsed = parse_infrastructure_message(cls.component, message)
                if parsed is not None:
                    return InfraFailure(cls.component, parsed[0], parsed[1])
                return InfraFailure(cls.component, "?", message or cls_name)
            error = getattr(error, "cause", None) or getattr(error, "context", None)
    return None


def _without_class(message: str, cls_name: str) -> str:
    """Dagster keeps `module.Class: text`; the text alone, first line."""
    text = re.sub(rf"^[\w.]*\b{re.escape(cls_name)}: ", "", message.strip())
    return text.splitlines()[0].strip() if text else ""


def run_infra_failure(instance: dg.DagsterInstance, run_id: str) -> InfraFailure | None:
    """Why the run failed, if it was an infrastructure fault."""
    errors: list[Any] = []
    for entry in instance.all_logs(
        run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    ):
        event = entry.dagster_event
        if event is None:
            continue
        if event.is_step_failure and event.step_failure_data is not None:
            errors.append(event.step_failure_data.error)
        elif event.is_job_failure and event.job_failure_data is not None:
            errors.append(event.job_failure_data.error)
    return infra_failure_of(errors)


@dataclass(frozen=True)
class InfraDecision:
    """`retry` now, `wait` for the component or the backoff, or `fail` for good."""

    action: str
    run: dg.DagsterRun
    failure: InfraFailure
    failures: int  # runs of this attempt that failed for infrastructure
    first_failed_at: float
    last_failed_at: float
    next_run_at: float
    healthy: bool = False

    def final_error(self) -> str:
        spent = duration_text(self.last_failed_at - self.first_failed_at)
        return (
            f"{self.failure.headline}: {_runs(self.failures)} over {spent} (each after "
            f"retrying its calls), last error: {self.failure.detail}"
        )[:500]


def _runs(count: int) -> str:
    return "1 run" if count == 1 else f"{count} runs"


def _started(record: dg.RunRecord) -> float:
    return record.start_time or record.create_timestamp.timestamp()


def _ended(record: dg.RunRecord) -> float:
    return record.end_time or record.update_timestamp.timestamp()


def decide(
    runs: Sequence[dg.RunRecord],
    failure_of: Callable[[dg.DagsterRun], InfraFailure | None],
    now: float,
    policy: InfraRetryPolicy,
    healthy: Callable[[InfraFailure], bool],
) -> InfraDecision | None:
    """The decision for a partition whose newest run (runs: newest first) failed, or None
    when that failure was not an infrastructure fault."""
    if not runs or runs[0].dagster_run.status is not dg.DagsterRunStatus.FAILURE:
        return None
    newest = runs[0]
    failure = failure_of(newest.dagster_run)
    if failure is None:
        return None
    # This attempt's infrastructure failures: the runs since the partition last succeeded
    # (a re-materialization months later does not inherit an old outage's count).
    failed: list[dg.RunRecord] = []
    for record in runs:
        if record.dagster_run.status is dg.DagsterRunStatus.SUCCESS:
            break
        if record is newest or (
            record.dagster_run.status is dg.DagsterRunStatus.FAILURE
            and failure_of(record.dagster_run) is not None
        ):
            failed.append(record)
    ended = _ended(newest)
    decision = InfraDecision(
        action="wait",
        run=newest.dagster_run,
        failure=failure,
        failures=len(failed),
        first_failed_at=min(_started(record) for record in failed),
        last_failed_at=ended,
        next_run_at=ended + policy.backoff(len(failed)),
    )
    if len(failed) > policy.max_retries:
        return _replace(decision, action="fail")
    if now >= decision.next_run_at:
        return _replace(decision, action="retry")
    if now - ended >= policy.settle_seconds and healthy(failure):
        return _replace(decision, action="retry", healthy=True)
    return decision


def _replace(decision: InfraDecision, **changes: Any) -> InfraDecision:
    return InfraDecision(**{**decision.__dict__, **changes})


def retrying_note(decision: InfraDecision, policy: InfraRetryPolicy) -> dict[str, Any]:
    """The record's `retrying` field for a deployment that waits or was started again."""
    failure = decision.failure
    runs = f"run {decision.failures} of at most {policy.max_retries + 1} failed"
    if decision.action == "retry":
        why = "it answers again" if decision.healthy else "the backoff passed"
        message = f"{failure.headline}; {runs}: running it again now ({why})"
    else:
        message = (
            f"waiting for {failure.label} ({failure.target}) to answer; {runs}, the next "
            f"runs once it answers, at the latest at {iso_time(decision.next_run_at)}"
        )
    return {
        "component": failure.component,
        "message": message,
        "error": f"{failure.headline}: {failure.detail}",
        "runs_failed": decision.failures,
        "max_runs": policy.max_retries + 1,
        "since": decision.first_failed_at,
        "next_run_at": decision.next_run_at,
    }


def disk_writable(target: str) -> bool:
    """Whether the filesystem of `target` (or its nearest existing parent) takes a write."""
    path = Path(target)
    for _ in range(64):
        if path.is_dir():
            break
        if path.parent == path:
            return False
        path = path.parent
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".dp-disk-probe-") as probe:
            probe.write(b"\0" * _PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError:
        return False
    return True


def duration_text(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"
