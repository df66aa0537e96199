"""What the three assets share: loading the record, and marking it failed on any error.

A failure is also reported on the commit (`failure` with the record's error) when
the asset got a `CommitStatusReporter`; that report never raises.

An infrastructure fault (Redis, the object store or a disk still failing after the
clients' own retries; `infrastructure_error` classifies it) is not the deployment's
failure: the record is left unfinished with a `retrying` note, the run fails with
the `InfrastructureError` (its class name is how the sensors recognize it) and
`deployment_recovery_sensor` runs the deployment again once the component answers
(sensors/infra_retry.py).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import redis

from deploy_platform.contracts.errors import (
    DeploymentFailed,
    DiskError,
    InfrastructureError,
    RedisUnavailable,
    is_disk_fault,
)
from deploy_platform.contracts.records import DeploymentRecord, Status
from deploy_platform.contracts.text_format import cut_at_line
from deploy_platform.github.statuses import CommitStatusReporter
from deploy_platform.orchestration.assets.labels import label_run
from deploy_platform.orchestration.assets.run_origin import run_origin
from deploy_platform.storage.redis_state import (
    PlatformState,
    UnknownDeployment,
    server_error_code,
    server_error_text,
)

__all__ = [
    "load_record",
    "deployment_stage",
    "failures_marked",
    "internal_error_message",
    "infrastructure_error",
    "redact_url",
]

_MAX_ERROR = 500


def load_record(state: PlatformState, deployment_id: str) -> DeploymentRecord:
    record = state.find(deployment_id)
    if record is None:
        raise dg.Failure(
            description=(
                f"no deployment record for {deployment_id!r} in Redis (prefix "
                f"{state.prefix!r}); deployments are created through the control API"
            )
        )
    return record


@contextmanager
def deployment_stage(
    context: dg.AssetExecutionContext,
    state: PlatformState,
    status: Status,
    statuses: CommitStatusReporter | None = None,
) -> Iterator[DeploymentRecord]:
    """Move this partition's deployment into `status` (clearing an old error) and yield
    its record; any exception inside marks it failed (see `failures_marked`).

    A run started by hand (`run_origin`) also records that as the deployment's trigger.
    """
    deployment_id = context.partition_key
    trigger = run_origin(context).trigger
    changes: dict[str, Any] = {"trigger": trigger.value} if trigger is not None else {}
    try:
        # This stage's milestones (and later ones') are of an earlier run: they go.
        record = state.update(
            deployment_id,
            lambda r: r.with_status(
                status,
                error=None,
                retrying=None,
                progress=r.progress_before(status.value),
                **changes,
            ),
        )
    except UnknownDeployment:
        load_record(state, deployment_id)  # raises the Failure that says what is wrong
        raise
    except Exception as exc:
        infra = infrastructure_error(exc, state)
        if infra is None or infra is exc:
            raise
        raise infra from exc
    with failures_marked(context, state, deployment_id, statuses):
        label_run(context, record)
        yield record


def internal_error_message(exc: BaseException) -> str:
    """One short line for the record; the traceback stays in the run's logs."""
    lines = str(exc).strip().splitlines()
    detail = f": {lines[0]}" if lines else ""
    message = f"internal error: {type(exc).__name__}{detail} (see the Dagster run's logs)"
    return message[:_MAX_ERROR]


# Redis refusing writes for a reason of its own (its disk is full, it is loading its
# data or is a replica), not because of the command.
_REDIS_FAULTS = ("MISCONF", "LOADING", "READONLY", "MASTERDOWN")


def infrastructure_error(exc: BaseException, state: PlatformState) -> InfrastructureError | None:
    """`exc` as an infrastructure fault, or None when it is not one."""
    if isinstance(exc, InfrastructureError):
        return exc
    if isinstance(exc, redis.AuthenticationError):
        return None  # a wrong password does not get better by waiting
    if (
        isinstance(exc, redis.ConnectionError | redis.TimeoutError)
        or server_error_code(exc) in _REDIS_FAULTS
    ):
        # Redis's own answer only: a pipeline's error also quotes its command (a record).
        detail = server_error_text(exc) or str(exc)
        return RedisUnavailable(state.where(), f"{type(exc).__name__}: {detail}")
    if isinstance(exc, OSError) and is_disk_fault(exc):
        where = str(exc.filename) if exc.filename else tempfile.gettempdir()
        return DiskError(where, f"[Errno {exc.errno}] {exc.strerror}", exc.errno)
    return None


def _note_retrying(
    context: dg.AssetExecutionContext,
    state: PlatformState,
    deployment_id: str,
    infra: InfrastructureError,
) -> None:
    """Say on the record what it waits for; the recovery sensor adds the details."""
    note = {
        "component": infra.component,
        "message": (
            f"waiting for {infra.label} ({infra.target}); the deployment runs again once it answers"
        ),
        "error": str(infra),
        "since": time.time(),
    }
    try:
        state.update(deployment_id, lambda r: r.replace(retrying=note))
    except Exception as exc:  # Redis may be the component at fault: the sensor notes it later
        context.log.warning(f"could not note the retry on deployment {deployment_id}: {exc!r}")


@contextmanager
def failures_marked(
    context: dg.AssetExecutionContext,
    state: PlatformState,
    deployment_id: str,
    statuses: CommitStatusReporter | None = None,
) -> Iterator[None]:
    """Mark the record `failed` with a readable error on any exception, then fail the run.

    Nothing live changes on failure: aliases only move after a manifest is written,
    at the very end of `published_deployment`.
    """
    try:
        yield
    except DeploymentFailed as exc:
        # Cut at a line's end: the message goes on with the build's last lines.
        _mark_failed(context, state, deployment_id, cut_at_line(str(exc), _MAX_ERROR), statuses)
        # A dg.Failure shows the message in the UI without a traceback: it is the user's
        # problem to fix (missing index.html, bad archive), not a bug in the platform.
        raise dg.Failure(
            description=str(exc), metadata={"deployment": deployment_id, "error": str(exc)}
        ) from exc
    except Exception as exc:
        infra = infrastructure_error(exc, state)
        if infra is None:
            _mark_failed(context, state, deployment_id, internal_error_message(exc), statuses)
            raise
        # Not the deployment's failure: it stays unfinished and runs again.
        context.log.warning(
            f"deployment {deployment_id}: {infra}; this run fails and "
            "deployment_recovery_sensor starts it again once the component answers"
        )
        if infra.component != "redis":  # else the note would wait out Redis once more
            _note_retrying(context, state, deployment_id, infra)
        if infra is exc:
            raise
        raise infra from exc


def _mark_failed(
    context: dg.AssetExecutionContext,
    state: PlatformState,
    deployment_id: str,
    error: str,
    statuses: CommitStatusReporter | None,
) -> None:
    context.log.error(f"deployment {deployment_id} failed: {error}")
    try:
        failed = state.update(deployment_id, lambda r: r.with_status(Status.FAILED, error=error))
    except Exception as mark_exc:  # the original error matters more; the run-failure sensor retries
        context.log.error(f"could not mark deployment {deployment_id} failed: {mark_exc!r}")
        return
    if statuses is not None:
        context.log.info(statuses.failed(failed, error))


def redact_url(url: str) -> str:
    """The URL without user:password, fit for metadata and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
