"""`source_archive`: the deployment's source tree at its pinned commit."""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import tempfile
import time
from pathlib import Path

import dagster as dg

from deploy_platform.contracts.errors import SourceError
from deploy_platform.contracts.manifest import source_key
from deploy_platform.contracts.progress import Progress
from deploy_platform.contracts.records import DeploymentRecord, SourceKind, Status
from deploy_platform.contracts.tags import materialization_tags
from deploy_platform.contracts.text_format import human_bytes
from deploy_platform.orchestration.assets.labels import (
    chunks_version,
    deployment_links,
    file_version,
    lead_with,
)
from deploy_platform.orchestration.assets.partitions import deployments_partitions
from deploy_platform.orchestration.assets.progress import milestone_reporter
from deploy_platform.orchestration.assets.tracking import deployment_stage, redact_url
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.git_source import FetchedArchive, GitSourceResource
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.storage import ObjectStore

__all__ = ["source_archive"]


@dg.asset(
    partitions_def=deployments_partitions,
    group_name="deployments",
    kinds={"git"},
    description=(
        "Step 1 of a deployment: its source code. For a git deployment, the repository "
        "at the commit pinned when the deployment was queued (materializing it again "
        "rebuilds that commit, not the branch's newest); for an uploaded directory, the "
        "upload. Stored as `sources/<id>.tar.gz`. One partition per deployment (its "
        "id); the metadata starts with the deployment's URL, project, branch and "
        "commit. Data version: the archive's sha256."
    ),
)
def source_archive(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    commit_status: CommitStatusResource,
    object_store: ObjectStoreResource,
    git_source: GitSourceResource,
) -> dg.MaterializeResult[None]:
    """The source at its pinned commit (or the uploaded tarball), as sources/<id>.tar.gz."""
    state = redis.state()
    statuses = commit_status.reporter(state, context.log)
    with deployment_stage(context, state, Status.CLONING, statuses) as record:
        store = object_store.store()
        started = time.monotonic()
        if record.source is SourceKind.GIT:
            progress = milestone_reporter(context, state, Status.CLONING)
            metadata, version, fetched = _fetch_git(context, store, git_source, record, progress)
            # The deployments list shows what was deployed; a webhook's payload may
            # have said it already, and what git says of the commit wins.
            state.update(
                record.id,
                lambda r: r.replace(
                    commit_message=fetched.message or r.commit_message,
                    commit_author=fetched.author or r.commit_author,
                ),
            )
        else:
            metadata, version = _check_upload(context, store, record)
        metadata["duration_s"] = dg.MetadataValue.float(round(time.monotonic() - started, 3))
        metadata["project"] = dg.MetadataValue.text(record.project)
        metadata.update(deployment_links(record))
        return dg.MaterializeResult(
            metadata=lead_with(record, metadata),
            data_version=version,
            tags=materialization_tags(record),
        )


def _fetch_git(
    context: dg.AssetExecutionContext,
    store: ObjectStore,
    git_source: GitSourceResource,
    record: DeploymentRecord,
    progress: Progress,
) -> tuple[dict[str, dg.MetadataValue], dg.DataVersion, FetchedArchive]:
    if not record.repo_url or not record.commit:
        raise SourceError(
            f"deployment {record.id} has no repository URL or pinned commit; "
            "deploy again through the API so the commit gets pinned"
        )
    repo = redact_url(record.repo_url)
    # Always the pinned commit, never the branch head: re-materializing this partition
    # from the UI must rebuild exactly what was deployed.
    context.log.info(f"fetching {repo} at {record.commit} (ref {record.ref})")
    progress("fetch", f"fetching commit {record.commit[:12]}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dp-source-") as tmp:
        archive = Path(tmp) / "source.tar.gz"
        fetched = git_source.fetch_archive(record.repo_url, record.commit, archive)
        took = time.monotonic() - started
        progress(
            "fetch",
            f"fetched commit {fetched.commit[:12]}: {fetched.files} files, "
            f"{human_bytes(fetched.bytes)} ({took:.1f} s)",
        )
        context.log.info(
            f"fetched {fetched.files} files, {fetched.bytes} bytes "
            f"({fetched.archive_bytes} bytes compressed); storing {source_key(record.id)}"
        )
        store.put_file(source_key(record.id), archive, "application/gzip")
        version = file_version(archive)
    metadata: dict[str, dg.MetadataValue] = {
        "source": dg.MetadataValue.text("git"),
        "repo": _url_or_text(repo),
        "ref": dg.MetadataValue.text(record.ref or ""),
        "commit": dg.MetadataValue.text(fetched.commit),
        "files": dg.MetadataValue.int(fetched.files),
        "bytes": dg.MetadataValue.int(fetched.bytes),
        "archive_bytes": dg.MetadataValue.int(fetched.archive_bytes),
        "archive": dg.MetadataValue.path(source_key(record.id)),
    }
    if fetched.message:
        metadata["commit_message"] = dg.MetadataValue.text(fetched.message)
    if fetched.author:
        metadata["commit_author"] = dg.MetadataValue.text(fetched.author)
    return metadata, version, fetched


def _check_upload(
    context: dg.AssetExecutionContext, store: ObjectStore, record: DeploymentRecord
) -> tuple[dict[str, dg.MetadataValue], dg.DataVersion]:
    key = source_key(record.id)
    info = store.head(key)
    if info is None:
        raise SourceError(
            f"the uploaded source archive {key} is not in the object store; "
            "upload the directory again (deploy-platform deploy <directory>)"
        )
    context.log.info(f"uploaded source archive {key} is stored ({info.size} bytes)")
    metadata: dict[str, dg.MetadataValue] = {
        "source": dg.MetadataValue.text("upload"),
        "archive_bytes": dg.MetadataValue.int(info.size),
        "archive": dg.MetadataValue.path(key),
    }
    return metadata, chunks_version(store.iter_range(key))


def _url_or_text(url: str) -> dg.MetadataValue:
    if url.startswith(("http://", "https://")):
        return dg.MetadataValue.url(url)
    return dg.MetadataValue.text(url)
