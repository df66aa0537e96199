"""What the history keeps about each deployment: the facts read from Dagster's records.

Plain JSON-able dicts (TypedDicts), because they are exported to disk as they are
(`export.py`) and turned into rows (`rows.py`) without Dagster:

  MaterializationFacts  the latest materialization of one asset for the partition:
                        its event storage id, run, time, data version, the storage id
                        of the upstream materialization it was made from (Dagster's
                        `dagster/input_event_pointer/<asset>` tag), and the metadata
                        values the history reports
  versions              every materialization's data version by storage id, per asset,
                        so an input pointer names the upstream version it read (the
                        `dagster/input_data_version/<asset>` tag is not that: for a
                        partitioned upstream Dagster stores a hash over its partitions)
  RunFacts              one run of the partition: status, times, the deploy/* tags,
                        and for a run that failed, the step that failed, how long each
                        step ran and the error
"""

from __future__ import annotations

from typing import TypedDict

__all__ = [
    "ASSETS",
    "SOURCE",
    "ARTIFACT",
    "PUBLISHED",
    "UPSTREAM",
    "REPORTED_METADATA",
    "MaterializationFacts",
    "RunFacts",
    "DeploymentFacts",
    "Scalar",
]

SOURCE = "source_archive"
ARTIFACT = "built_artifact"
PUBLISHED = "published_deployment"
ASSETS = (SOURCE, ARTIFACT, PUBLISHED)
#: The asset each one is made from (its lineage parent).
UPSTREAM = {ARTIFACT: SOURCE, PUBLISHED: ARTIFACT}

#: Metadata kept from each asset's materializations (the rest stays in Dagster).
REPORTED_METADATA = {
    SOURCE: ("project", "ref", "commit", "files", "bytes", "duration_s", "source"),
    ARTIFACT: ("framework", "install_s", "build_s", "duration_s", "files", "bytes"),
    PUBLISHED: (
        "files",
        "bytes",
        "bytes_uploaded",
        "bytes_reused",
        "files_reused",
        "duration_s",
        "url",
    ),
}

Scalar = str | int | float | bool | None


class MaterializationFacts(TypedDict):
    storage_id: int
    run_id: str
    timestamp: float
    data_version: str | None
    input_storage_id: int | None
    metadata: dict[str, Scalar]


class RunFacts(TypedDict):
    run_id: str
    status: str
    created: float
    started: float | None
    finished: float | None
    updated: float
    #: deploy/* tags, plus dagster/backfill when present (see `deploy_platform.contracts.tags`).
    tags: dict[str, str]
    #: Filled in once for a run that ended failed or canceled.
    failed_step: str | None
    step_seconds: dict[str, float]
    error: str | None
    detailed: bool


class DeploymentFacts(TypedDict):
    id: str
    materializations: dict[str, MaterializationFacts]
    #: asset -> str(storage id) -> data version, every materialization seen.
    versions: dict[str, dict[str, str]]
    runs: dict[str, RunFacts]
