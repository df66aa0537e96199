"""Deployments as they stand after real publishes, some of them days old."""

from __future__ import annotations

import time
from collections.abc import Mapping

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import (
    Manifest,
    artifact_key,
    blob_key,
    manifest_key,
    source_key,
)
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.storage import ObjectNotFound, ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.deployments import write_deployment

DAY = 86400.0


def make_deployment(
    store: ObjectStore,
    state: PlatformState,
    project: str,
    files: Mapping[str, bytes],
    *,
    ref: str | None = "main",
    days_ago: float = 60.0,
    status: Status = Status.READY,
    build_env: Mapping[str, str] | None = None,
) -> DeploymentRecord:
    """A deployment queued `days_ago` days ago: record, source, artifact, bodies, manifest."""
    deployment_id = new_deployment_id()
    queued = time.time() - days_ago * DAY
    stamps = {Status.QUEUED.value: queued}
    if status is not Status.QUEUED:
        stamps[status.value] = queued + 30
    record = DeploymentRecord(
        id=deployment_id,
        project=project,
        source=SourceKind.GIT if ref else SourceKind.UPLOAD,
        environment=Environment.PRODUCTION,
        status=status,
        ref=ref,
        timestamps=stamps,
        build={"env": dict(build_env)} if build_env else {},
    )
    state.create(record)
    store.put_bytes(source_key(deployment_id), b"source of " + deployment_id.encode())
    if status is Status.READY:
        store.put_bytes(artifact_key(deployment_id), b"artifact of " + deployment_id.encode())
        write_deployment(store, deployment_id, files)
    return record


def manifest_of(store: ObjectStore, deployment_id: str) -> Manifest:
    return Manifest.from_json(store.get_bytes(manifest_key(deployment_id)))


def serves_everything(store: ObjectStore, deployment_id: str) -> bool:
    """The manifest is there and every body and variant it names is stored."""
    try:
        manifest = manifest_of(store, deployment_id)
    except ObjectNotFound:
        return False
    keys = {blob_key(e.blob) for e in manifest.files.values()}
    keys |= {blob_key(r.blob) for e in manifest.files.values() for r in e.encodings.values()}
    return not store.missing(keys)


def gone(store: ObjectStore, deployment_id: str) -> bool:
    return not any(
        store.exists(key)
        for key in (
            manifest_key(deployment_id),
            source_key(deployment_id),
            artifact_key(deployment_id),
        )
    )
