"""Test deployments, published through the real publishing code (`deploy_platform.publish`).

  write_deployment(store, "abcdefghij23", {"/index.html": b"<h1>hi</h1>"}) -> Manifest
  point_alias(store, state, "docs", "abcdefghij23")  -> the previous deployment id
  published(store, state, "docs", b"<h1>v1</h1>")    -> a ready record with its manifest

Bodies land content-addressed at `blobs/<sha256>` and the manifest is written
last, exactly as a real deployment; aliases move pointer first, then Redis.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import Manifest
from deploy_platform.contracts.names import preview_alias, production_alias
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.publish import aliases
from deploy_platform.publish.alias_moves import MoveNote, MoveReason
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["write_deployment", "point_alias", "published"]


def write_deployment(
    store: ObjectStore, deployment_id: str, files: Mapping[str, bytes]
) -> Manifest:
    """Publish `files` (URL path such as `/docs/index.html` -> body) as the deployment."""
    with tempfile.TemporaryDirectory(prefix="dp-test-site-") as tmp:
        root = Path(tmp)
        for url_path, body in files.items():
            relative = PurePosixPath(url_path.lstrip("/"))
            if not relative.parts or any(part in ("", ".", "..") for part in relative.parts):
                raise ValueError(f"{url_path!r} is not a file path inside the site")
            target = root.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        return publish_directory(store, deployment_id, root).manifest


def point_alias(
    store: ObjectStore, state: PlatformState, alias: str, deployment_id: str
) -> str | None:
    """Point `alias` at the deployment the way publishing does (pointer, then Redis)."""
    return aliases.point_alias(store, state, alias, deployment_id)


def published(
    store: ObjectStore,
    state: PlatformState,
    project: str,
    index_html: bytes,
    *,
    ref: str = "main",
    status: Status = Status.READY,
    live: bool = True,
) -> DeploymentRecord:
    """A deployment of `project` as the pipeline leaves it: its record in Redis (queued
    now, `status`), its manifest in the store when ready, and its alias moved to it
    (logged as a deploy) when `live`. `ref` "main" is production, any other a preview."""
    deployment_id = new_deployment_id()
    production = ref == "main"
    alias = production_alias(project) if production else preview_alias(project, ref)
    record = DeploymentRecord(
        id=deployment_id,
        project=project,
        source=SourceKind.UPLOAD,
        environment=Environment.PRODUCTION if production else Environment.PREVIEW,
        ref=ref,
        aliases=(alias,),
        timestamps={"queued": time.time()},
    )
    state.create(record)
    if status is Status.READY:
        write_deployment(store, deployment_id, {"/index.html": index_html})
    final = state.set_status(deployment_id, status)
    if live and status is Status.READY:
        note = MoveNote(project, f"dagster:run-{deployment_id}", MoveReason.DEPLOY)
        aliases.point_alias(store, state, alias, deployment_id, note=note)
    return final
