"""What the three assets share: loading the record, and marking it failed on any error.

A failure is also reported on the commit (`failure` with the record's error) when
the asset got a `CommitStatusReporter`; that report never raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import dagster as dg

from deploy_platform.assets.labels import label_run
from deploy_platform.assets.run_origin import run_origin
from deploy_platform.commit_status import CommitStatusReporter
from deploy_platform.errors import DeploymentFailed
from deploy_platform.records import DeploymentRecord, Status
from deploy_platform.state import PlatformState, UnknownDeployment

__all__ = [
    "load_record",
    "deployment_stage",
    "failures_marked",
    "internal_error_message",
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
    changes = {"trigger": trigger.value} if trigger is not None else {}
    try:
        record = state.set_status(deployment_id, status, error=None, **changes)
    except UnknownDeployment:
        load_record(state, deployment_id)  # raises the Failure that says what is wrong
        raise
    with failures_marked(context, state, deployment_id, statuses):
        label_run(context, record)
        yield record


def internal_error_message(exc: BaseException) -> str:
    """One short line for the record; the traceback stays in the run's logs."""
    lines = str(exc).strip().splitlines()
    detail = f": {lines[0]}" if lines else ""
    message = f"internal error: {type(exc).__name__}{detail} (see the Dagster run's logs)"
    return message[:_MAX_ERROR]


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
        _mark_failed(context, state, deployment_id, str(exc)[:_MAX_ERROR], statuses)
        # A dg.Failure shows the message in the UI without a traceback: it is the user's
        # problem to fix (missing index.html, bad archive), not a bug in the platform.
        raise dg.Failure(
            description=str(exc), metadata={"deployment": deployment_id, "error": str(exc)}
        ) from exc
    except Exception as exc:
        _mark_failed(context, state, deployment_id, internal_error_message(exc), statuses)
        raise


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
