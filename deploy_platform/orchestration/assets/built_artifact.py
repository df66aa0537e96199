"""`built_artifact`: the tree that gets published, built from the source archive."""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg

from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import DeploymentFailed, InvalidRequest
from deploy_platform.contracts.manifest import artifact_key, artifact_routing_key, source_key
from deploy_platform.contracts.records import Status
from deploy_platform.contracts.tags import materialization_tags
from deploy_platform.contracts.text_format import human_bytes
from deploy_platform.orchestration.assets.labels import (
    deployment_links,
    file_version,
    lead_with,
    warnings_metadata,
)
from deploy_platform.orchestration.assets.partitions import deployments_partitions
from deploy_platform.orchestration.assets.progress import milestone_reporter
from deploy_platform.orchestration.assets.source_archive import source_archive
from deploy_platform.orchestration.assets.staging import unpack_from_store
from deploy_platform.orchestration.assets.tracking import deployment_stage
from deploy_platform.orchestration.resources.build_runner import BuildRequest, BuildRunnerResource
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.source.archive.pack import pack_directory

__all__ = ["built_artifact"]


@dg.asset(
    partitions_def=deployments_partitions,
    deps=[source_archive],
    group_name="deployments",
    description=(
        "Step 2: the built site. The source is unpacked, the framework detected, the "
        "dependencies installed (from the cache when the lockfile did not change) and "
        "the build command run in a sandbox; its output folder is stored as "
        "`artifacts/<id>.tar.gz`. The metadata starts with the deployment's URL, "
        "project, branch and commit, then files, bytes and how long the install and "
        "build took (`install_s`, `build_s`), and ends with the build log's last lines "
        "(the whole log is the run's stdout). Data version: the artifact's sha256."
    ),
)
def built_artifact(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    commit_status: CommitStatusResource,
    object_store: ObjectStoreResource,
    build_runner: BuildRunnerResource,
) -> dg.MaterializeResult[None]:
    """The publishable output, built from the safely unpacked source, as artifacts/<id>.tar.gz."""
    deployment_id = context.partition_key
    state = redis.state()
    statuses = commit_status.reporter(state, context.log)
    with deployment_stage(context, state, Status.BUILDING, statuses) as record:
        store = object_store.store()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="dp-build-") as tmp:
            source_dir = Path(tmp) / "src"
            unpacked = unpack_from_store(
                store,
                source_key(deployment_id),
                Path(tmp),
                source_dir,
                build_runner,
                produced_by="source_archive",
            )
            context.log.info(f"unpacked {unpacked.files} files, {unpacked.bytes} bytes")
            request = BuildRequest(project=record.project, settings=build_settings(record.build))
            progress = milestone_reporter(context, state, Status.BUILDING)
            result = build_runner.build(source_dir, context.log.info, request, store, progress)
            output = result.output_dir.relative_to(source_dir).as_posix()
            packed_path = Path(tmp) / "artifact.tar.gz"
            progress("store", "packing the output for publishing")
            packed = pack_directory(result.output_dir, packed_path)
            archive_bytes = packed_path.stat().st_size
            version = file_version(packed_path)
            store.put_file(artifact_key(deployment_id), packed_path, "application/gzip")
            # The repository's vercel.json / netlify.toml rules travel beside the artifact,
            # not inside it: the output tree is the user's, and a reserved name in it could
            # clash with their files. Written every time (even empty), so a rebuild never
            # publishes rules left over from an earlier build of this partition.
            store.put_bytes(
                artifact_routing_key(deployment_id),
                json.dumps(result.routing, sort_keys=True).encode(),
                "application/json",
            )
            context.log.info(
                f"stored {artifact_key(deployment_id)}: {packed.files} files, {packed.bytes} bytes"
            )
            progress("store", f"output stored ({human_bytes(archive_bytes)} packed)")
        for warning in result.warnings:
            context.log.warning(warning)
        state.update(
            deployment_id,
            lambda r: r.replace(framework=result.framework, warnings=tuple(result.warnings)),
        )
        return dg.MaterializeResult(
            data_version=version,
            tags=materialization_tags(record),
            metadata=lead_with(
                record,
                {
                    "framework": dg.MetadataValue.text(result.framework),
                    "output_dir": dg.MetadataValue.text("./" if output == "." else f"{output}/"),
                    "install_command": dg.MetadataValue.text(result.install_command or "(none)"),
                    "build_command": dg.MetadataValue.text(result.build_command or "(none)"),
                    "files": dg.MetadataValue.int(packed.files),
                    "bytes": dg.MetadataValue.int(packed.bytes),
                    "archive_bytes": dg.MetadataValue.int(archive_bytes),
                    "archive": dg.MetadataValue.path(artifact_key(deployment_id)),
                    "routing_config": dg.MetadataValue.text(
                        ", ".join(sorted(result.routing)) or "(none)"
                    ),
                    "build_duration_s": dg.MetadataValue.float(round(result.duration_s, 3)),
                    # The stage timings history reports; a site without a build step has none.
                    "install_s": dg.MetadataValue.float(_seconds(result.metadata.get("install_s"))),
                    "build_s": dg.MetadataValue.float(
                        _seconds(result.metadata.get("build_s", result.duration_s))
                    ),
                    "duration_s": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
                    "build_log_tail": dg.MetadataValue.md(_fenced(result.log_tail)),
                    "warnings": warnings_metadata(result.warnings),
                    **{
                        f"build_{name}": _metadata_value(value)
                        for name, value in sorted(result.metadata.items())
                        if name not in _SHOWN
                    },
                    **deployment_links(record),
                },
            ),
        )


# Build metadata the asset already shows under its own names.
_SHOWN = {"framework", "install_command", "build_command", "output_dir", "install_s", "build_s"}


def _seconds(value: object) -> float:
    return round(float(value), 3) if isinstance(value, int | float) else 0.0


def build_settings(raw: dict[str, Any]) -> BuildSettings:
    """The record's stored build settings; DeploymentFailed when they no longer parse."""
    try:
        return BuildSettings.from_dict(raw or {})
    except InvalidRequest as exc:
        raise DeploymentFailed(f"the deployment's build settings are invalid: {exc}") from None


def _metadata_value(value: object) -> dg.MetadataValue:
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    if value is None:
        return dg.MetadataValue.text("(none)")
    if isinstance(value, str):
        return dg.MetadataValue.text(value)
    return dg.MetadataValue.json(value)  # type: ignore[arg-type]


def _fenced(text: str) -> str:
    """The build's output as a Markdown code block it cannot break out of."""
    return "````\n" + text.replace("````", "'''") + "\n````"
