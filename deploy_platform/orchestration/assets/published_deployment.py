"""`published_deployment`: the live deployment, its manifest, the aliases moved to it,
and its commit marked `success` on GitHub (linking the alias it moved)."""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg

from deploy_platform.contracts.errors import DeploymentFailed
from deploy_platform.contracts.manifest import artifact_key, artifact_routing_key, manifest_key
from deploy_platform.contracts.records import DeploymentRecord, Status
from deploy_platform.contracts.tags import materialization_tags
from deploy_platform.github.statuses import success_url
from deploy_platform.orchestration.assets.built_artifact import build_settings, built_artifact
from deploy_platform.orchestration.assets.labels import (
    lead_with,
    manifest_version,
    warnings_metadata,
)
from deploy_platform.orchestration.assets.partitions import deployments_partitions
from deploy_platform.orchestration.assets.progress import milestone_reporter
from deploy_platform.orchestration.assets.run_origin import run_origin
from deploy_platform.orchestration.assets.staging import unpack_from_store
from deploy_platform.orchestration.assets.tracking import deployment_stage
from deploy_platform.orchestration.resources.alias_index import AliasIndexResource
from deploy_platform.orchestration.resources.build_runner import BuildRunnerResource
from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.publish.alias_moves import MoveNote
from deploy_platform.publish.aliases import (
    AliasIndexHook,
    AliasMove,
    move_alias_if_newer,
    point_alias,
)
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage import ObjectNotFound, ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["published_deployment"]


@dg.asset(
    partitions_def=deployments_partitions,
    deps=[built_artifact],
    group_name="deployments",
    description=(
        "Step 3: the site goes live. Each file is uploaded with Brotli and gzip copies "
        "(files the store already holds are reused), then its file list "
        "(`deployments/<id>/manifest.json`), then the project's production URL or the "
        "branch's preview URL is pointed at it. The metadata starts with the "
        "deployment's URL, project, branch and commit, then what was uploaded or reused "
        "and how long it took. After a successful deploy run, two checks confirm that "
        "the front page is served and that every file is stored. Data version: a hash "
        "of the files and routing rules."
    ),
)
def published_deployment(
    context: dg.AssetExecutionContext,
    redis: RedisResource,
    commit_status: CommitStatusResource,
    object_store: ObjectStoreResource,
    build_runner: BuildRunnerResource,
    alias_index: AliasIndexResource,
) -> dg.MaterializeResult[None]:
    """The live deployment: changed files uploaded by content hash, manifest last, aliases moved."""
    deployment_id = context.partition_key
    state = redis.state()
    statuses = commit_status.reporter(state, context.log)
    with deployment_stage(context, state, Status.PUBLISHING, statuses) as record:
        store = object_store.store()
        # Half-set DP_CF_* fails here, before anything is published.
        index = alias_index.index(state, warn=context.log.warning)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="dp-publish-") as tmp:
            site = Path(tmp) / "site"
            # The artifact was checked when it was built; it is checked again because
            # anyone with write access to the bucket could have replaced it since.
            unpack_from_store(
                store,
                artifact_key(deployment_id),
                Path(tmp),
                site,
                build_runner,
                produced_by="built_artifact",
            )
            # Bad rules raise RoutingError here, before any upload: nothing live changes.
            # The lease in Redis keeps garbage collection from sweeping reused bodies.
            published = publish_directory(
                store,
                deployment_id,
                site,
                routing_config=_routing_config(store, deployment_id),
                state=state,
                strict_rules=build_settings(record.build).strict_rules,
                progress=milestone_reporter(context, state, Status.PUBLISHING),
            )
        for warning in published.warnings:
            context.log.warning(warning)
            # Also in the run's stdout: `deploy-platform logs` shows it beside the build's.
            print(f"warning: {warning}", flush=True)
        context.log.info(
            f"published {published.files} files ({published.bytes} bytes): uploaded "
            f"{published.files_uploaded} bodies ({published.bytes_uploaded} bytes), reused "
            f"{published.files_reused} ({published.bytes_reused} bytes); "
            f"wrote {manifest_key(deployment_id)}"
        )
        context.log.info(
            f"compressed variants: {published.variants} ({published.variant_bytes} bytes) in "
            f"{published.compress_seconds:.2f} s, uploaded {published.variants_uploaded} "
            f"({published.variant_bytes_uploaded} bytes)"
        )
        routes = published.manifest.routes
        if routes:
            context.log.info(
                f"routing: {len(routes.redirects)} redirect/rewrite rules, "
                f"{len(routes.headers)} header rules"
            )
        # Only now, with the manifest in place, may anything that is live change.
        moves = _move_aliases(context, store, state, record, record.aliases, index)
        final = state.update(
            deployment_id,
            lambda current: current.with_status(
                Status.READY,
                error=None,
                files=published.files,
                bytes_total=published.bytes,
                files_uploaded=published.files_uploaded,
                bytes_uploaded=published.bytes_uploaded,
                files_reused=published.files_reused,
                bytes_reused=published.bytes_reused,
                # After the build's; a publish run again does not repeat its own.
                warnings=tuple(dict.fromkeys((*current.warnings, *published.warnings))),
            ),
        )
        # A webhook that joined this build while it ran added its alias to the record
        # (`deploy_platform.github.webhooks.builds`); one that joins from now on sees
        # the record ready and moves its alias itself.
        late = tuple(alias for alias in final.aliases if alias not in record.aliases)
        if late:
            moves += _move_aliases(context, store, state, final, late, index)
        for move in moves:
            if move.moved:
                context.log.info(
                    f"alias {move.alias} -> {deployment_id} (was {move.previous or 'unset'})"
                )
            else:
                context.log.warning(
                    f"alias {move.alias} left on {move.current}: {move.kept_because} "
                    "(roll back or promote to point it here)"
                )
        # Live now; the commit says so (a post that fails is retried, never fatal).
        if statuses is not None:
            target = success_url(final, moved_aliases=any(m.moved for m in moves))
            status_outcome = statuses.succeeded(final, target)
            context.log.info(status_outcome)
        else:
            status_outcome = "not posted: commit statuses are off"
        metadata: dict[str, dg.MetadataValue] = {
            "files": dg.MetadataValue.int(published.files),
            "bytes": dg.MetadataValue.int(published.bytes),
            "files_uploaded": dg.MetadataValue.int(published.files_uploaded),
            "bytes_uploaded": dg.MetadataValue.int(published.bytes_uploaded),
            "files_reused": dg.MetadataValue.int(published.files_reused),
            "bytes_reused": dg.MetadataValue.int(published.bytes_reused),
            "compressed_variants": dg.MetadataValue.int(published.variants),
            "compressed_variants_uploaded": dg.MetadataValue.int(published.variants_uploaded),
            "compress_s": dg.MetadataValue.float(round(published.compress_seconds, 3)),
            "manifest": dg.MetadataValue.path(manifest_key(deployment_id)),
            "redirect_rules": dg.MetadataValue.int(len(routes.redirects) if routes else 0),
            "header_rules": dg.MetadataValue.int(len(routes.headers) if routes else 0),
            "aliases_moved": dg.MetadataValue.text(
                ", ".join(m.alias for m in moves if m.moved) or "(none)"
            ),
            "duration_s": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
            "commit_status": dg.MetadataValue.text(status_outcome),
            "warnings": warnings_metadata(published.warnings),
        }
        total = final.durations().get("total")
        if total is not None:
            metadata["enqueue_to_ready_s"] = dg.MetadataValue.float(total)
        # "url" is this deployment's immutable URL; url_production / url_preview the aliases.
        for name, url in sorted(final.urls.items()):
            key = "url" if name == "deployment" else f"url_{name}"
            metadata[key] = dg.MetadataValue.url(url)
        return dg.MaterializeResult(
            metadata=lead_with(record, metadata),
            data_version=manifest_version(published.manifest),
            tags=materialization_tags(record),
        )


def _move_aliases(
    context: dg.AssetExecutionContext,
    store: ObjectStore,
    state: PlatformState,
    record: DeploymentRecord,
    aliases: tuple[str, ...],
    index: AliasIndexHook | None,
) -> list[AliasMove]:
    """A queued deploy goes live unless the alias shows a later deployment; a partition
    materialized by hand goes live regardless, as a rollback (see `run_origin`)."""
    origin = run_origin(context)
    note = MoveNote(project=record.project, actor=origin.actor, reason=origin.reason)
    if not origin.by_hand:
        return [
            move_alias_if_newer(store, state, alias, record.id, index, note=note)
            for alias in aliases
        ]
    context.log.info(
        f"started by hand ({origin.actor}): pointing {', '.join(aliases)} at "
        f"{record.id} even if a later deployment is live there"
    )
    moves = []
    for alias in aliases:
        previous = point_alias(store, state, alias, record.id, index, note=note)
        moves.append(AliasMove(alias, moved=True, previous=previous, current=record.id))
    return moves


def _routing_config(store: ObjectStore, deployment_id: str) -> dict[str, Any]:
    """The repository's raw routing rules stored by built_artifact ({} for older artifacts)."""
    key = artifact_routing_key(deployment_id)
    try:
        data = json.loads(store.get_bytes(key))
    except ObjectNotFound:
        return {}
    except ValueError as exc:
        raise DeploymentFailed(
            f"{key} is not JSON ({exc}); materialize built_artifact again"
        ) from None
    if not isinstance(data, dict):
        raise DeploymentFailed(f"{key} must hold a JSON object; materialize built_artifact again")
    return data
