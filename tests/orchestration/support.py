"""Helpers for the Dagster tests: records shaped as the API writes them, archives, runs."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import Manifest, blob_key, manifest_key, source_key
from deploy_platform.contracts.names import preview_alias, production_alias
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind
from deploy_platform.orchestration.assets import (
    built_artifact,
    published_deployment,
    source_archive,
)
from deploy_platform.orchestration.assets.checks import deployment_checks
from deploy_platform.orchestration.jobs.checks import CHECKS_JOB, checks_job
from deploy_platform.orchestration.jobs.deploy import DEPLOY_JOB, deploy_job
from deploy_platform.orchestration.resources.edge_origin import EdgeOriginResource
from deploy_platform.orchestration.resources.redis_state import RedisResource
from deploy_platform.orchestration.sensors.queue_sensor import run_tags
from deploy_platform.settings.platform import public_url
from deploy_platform.source.archive.pack import pack_directory
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState

ASSETS = [source_archive, built_artifact, published_deployment]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def make_record(
    *,
    project: str,
    source: SourceKind,
    repo_url: str | None = None,
    ref: str | None = "main",
    commit: str | None = None,
    environment: Environment = Environment.PRODUCTION,
) -> DeploymentRecord:
    """A queued record shaped as the control API writes it."""
    dep = new_deployment_id()
    alias = (
        production_alias(project)
        if environment is Environment.PRODUCTION
        else preview_alias(project, ref or "")
    )
    return DeploymentRecord(
        id=dep,
        project=project,
        source=source,
        environment=environment,
        repo_url=repo_url,
        ref=ref,
        commit=commit,
        aliases=(alias,),
        urls={
            "deployment": public_url(dep, "localhost", "http", 8080),
            environment.value: public_url(alias, "localhost", "http", 8080),
        },
    )


def queue_git(state: PlatformState, repo: Any, project: str, ref: str = "main") -> DeploymentRecord:
    """Create the record for a git deployment with the commit pinned, as the API does."""
    record = make_record(
        project=project,
        source=SourceKind.GIT,
        repo_url=repo.url,
        ref=ref,
        commit=repo.head(ref),
    )
    state.create(record)
    return record


def queue_upload(
    state: PlatformState, store: ObjectStore, project: str, archive: Path
) -> DeploymentRecord:
    """Create the record for an uploaded directory whose archive is already stored."""
    record = make_record(project=project, source=SourceKind.UPLOAD, ref=None)
    store.put_file(source_key(record.id), archive, "application/gzip")
    state.create(record)
    return record


def pack_site(tmp: Path, files: Mapping[str, str | bytes]) -> Path:
    site = tmp / unique("site")
    for name, content in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    archive = tmp / f"{site.name}.tar.gz"
    pack_directory(site, archive)
    return archive


def evil_archive(tmp: Path) -> Path:
    """A gzipped tar whose second entry climbs out of the tree."""
    archive = tmp / f"{unique('evil')}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("index.html", b"<h1>ok</h1>"), ("../escaped.txt", b"gotcha")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


@dataclass
class Deployer:
    instance: dg.DagsterInstance
    resources: dict[str, Any]

    def run(
        self, deployment_id: str, extra_tags: Mapping[str, str] | None = None
    ) -> dg.ExecuteInProcessResult:
        """Run the queue sensor's job for one partition with the sensor's run tags, as
        the daemon would (without the checks: `check` runs them)."""
        self.instance.add_dynamic_partitions("deployments", [deployment_id])
        job = dg.Definitions(
            assets=ASSETS,
            asset_checks=deployment_checks,
            jobs=[deploy_job],
            resources={"edge_origin": EdgeOriginResource(), **self.resources},
        ).resolve_job_def(DEPLOY_JOB)
        redis: RedisResource = self.resources["redis"]
        tags = {**run_tags(redis.state().get(deployment_id)), **(extra_tags or {})}
        return job.execute_in_process(
            partition_key=deployment_id, instance=self.instance, raise_on_error=False, tags=tags
        )

    def check(self, deployment_id: str) -> dg.ExecuteInProcessResult:
        """Run the checks job for a partition, as deployment_checks_sensor does after a
        successful deploy run (or a person from the UI)."""
        job = dg.Definitions(
            assets=ASSETS,
            asset_checks=deployment_checks,
            jobs=[checks_job],
            resources={"edge_origin": EdgeOriginResource(), **self.resources},
        ).resolve_job_def(CHECKS_JOB)
        # A job of checks alone takes its partition from the run tag (execute_in_process
        # looks for a partitioned asset to check a partition_key against).
        return job.execute_in_process(
            tags={"dagster/partition": deployment_id}, instance=self.instance, raise_on_error=False
        )

    def materialize(
        self,
        deployment_id: str,
        selection: list[dg.AssetsDefinition] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Re-materialize assets of a partition, as a person does from the UI (no sensor tags)."""
        self.instance.add_dynamic_partitions("deployments", [deployment_id])
        return dg.materialize(
            ASSETS,
            selection=selection or ASSETS,
            partition_key=deployment_id,
            instance=self.instance,
            resources=self.resources,
            raise_on_error=False,
            tags=tags,
        )


def read_manifest(store: ObjectStore, deployment_id: str) -> Manifest:
    return Manifest.from_json(store.get_bytes(manifest_key(deployment_id)))


def served_text(store: ObjectStore, deployment_id: str, path: str) -> str:
    """What the edge-origin would serve for `path`: manifest -> blob."""
    entry = read_manifest(store, deployment_id).files[path]
    return store.get_bytes(blob_key(entry.blob)).decode()
