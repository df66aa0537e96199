"""Bring an archive from the object store onto local disk, unpacked safely."""

from __future__ import annotations

from pathlib import Path

from deploy_platform.contracts.errors import DeploymentFailed
from deploy_platform.orchestration.resources.build_runner import BuildRunnerResource
from deploy_platform.source.archive.tree import ArchiveStats
from deploy_platform.source.archive.unpack import safe_extract
from deploy_platform.storage import ObjectNotFound, ObjectStore

__all__ = ["unpack_from_store"]


def unpack_from_store(
    store: ObjectStore,
    key: str,
    scratch: Path,
    dest: Path,
    limits: BuildRunnerResource,
    produced_by: str,
) -> ArchiveStats:
    """Download `key` into `scratch` and unpack it into `dest` within the build limits.

    A missing archive names the asset (`produced_by`) to materialize first.
    """
    archive = scratch / Path(key).name
    try:
        store.download_file(key, archive)
    except ObjectNotFound:
        raise DeploymentFailed(
            f"{key} is missing from the object store; "
            f"materialize {produced_by} for this partition first"
        ) from None
    return safe_extract(
        archive, dest, max_bytes=limits.max_tree_bytes, max_files=limits.max_tree_files
    )
