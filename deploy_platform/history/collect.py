"""Read a deployment's history from Dagster's own records, through the public instance API.

`HistoryExport.refresh(instance)` brings the export up to date incrementally:

1. Materializations of the three assets after the last event storage id seen
   (`DagsterInstance.fetch_materializations` with `AssetRecordsFilter(after_storage_id=)`,
   ascending, in pages): the newest per asset and partition wins.
2. Runs updated since the last refresh (`get_run_records` with
   `RunsFilter(updated_after=)`, paged by run cursor), with a small overlap because
   run storage commits need not land in update-time order. Only runs of a deployment
   partition that materialize one of the three assets count.
3. For a run that ended failed or canceled, once: `get_run_step_stats` (which step
   failed, how long each ran) and its failure events (`all_logs`) for the error.

Reading every record again is what this avoids: Dagster deserializes each event
(~0.5 ms), so 10,000 deployments' 30,000 materializations take ~15 s to read,
while a refresh with nothing new is four small queries (benchmarks/history_query.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.tags import BACKFILL_TAG, CHECKS_JOB, ENQUEUED_TAG, PARTITION_TAG
from deploy_platform.contracts.text_format import cut_at_line
from deploy_platform.history.facts import (
    ASSETS,
    REPORTED_METADATA,
    UPSTREAM,
    DeploymentFacts,
    MaterializationFacts,
    RunFacts,
    Scalar,
)

__all__ = ["HistoryExport", "EXPORT_VERSION", "deployment_partition"]

# 3: a failed run's error is its whole message (2 kept its first line only).
EXPORT_VERSION = 3
_PAGE = 1000
# Run updates may commit a little out of update-time order (several run workers).
_RUN_OVERLAP_SECONDS = 30.0
_FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
_FAILED = {"FAILURE", "CANCELED"}
# A build failure's message ends with the build's last lines: kept whole, within reason.
_MAX_ERROR = 8000

_DATA_VERSION_TAG = "dagster/data_version"
_INPUT_POINTER_TAG = "dagster/input_event_pointer/"


class HistoryExport:
    """The facts of every deployment Dagster has records of, and where reading stopped."""

    def __init__(
        self,
        deployments: dict[str, DeploymentFacts] | None = None,
        materialization_cursor: dict[str, int] | None = None,
        run_cursor: float = 0.0,
    ) -> None:
        self.deployments: dict[str, DeploymentFacts] = deployments or {}
        self.materialization_cursor: dict[str, int] = materialization_cursor or {}
        self.run_cursor = run_cursor

    # -- persistence (see export.py) ---------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": EXPORT_VERSION,
            "materialization_cursor": self.materialization_cursor,
            "run_cursor": self.run_cursor,
            "deployments": self.deployments,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryExport:
        if data.get("version") != EXPORT_VERSION:
            raise ValueError(f"export version {data.get('version')!r} is not {EXPORT_VERSION}")
        return cls(
            deployments=dict(data["deployments"]),
            materialization_cursor={
                str(k): int(v) for k, v in data["materialization_cursor"].items()
            },
            run_cursor=float(data["run_cursor"]),
        )

    # -- reading Dagster ---------------------------------------------------------------

    def refresh(self, instance: dg.DagsterInstance) -> set[str]:
        """Read what is new; the ids of the deployments whose facts changed."""
        changed: set[str] = set()
        for asset in ASSETS:
            changed |= self._read_materializations(instance, asset)
        changed |= self._read_runs(instance)
        return changed

    def is_behind(self, instance: dg.DagsterInstance) -> bool:
        """True when the instance holds fewer events than this export has read: its
        storage was replaced or wiped, so the export must be built again."""
        for asset in ASSETS:
            seen = self.materialization_cursor.get(asset)
            if seen is None:
                continue
            latest = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
            if not latest or latest[0].storage_id < seen:
                return True
        return False

    def _deployment(self, deployment_id: str) -> DeploymentFacts:
        facts = self.deployments.get(deployment_id)
        if facts is None:
            facts = DeploymentFacts(id=deployment_id, materializations={}, versions={}, runs={})
            self.deployments[deployment_id] = facts
        return facts

    def _read_materializations(self, instance: dg.DagsterInstance, asset: str) -> set[str]:
        changed: set[str] = set()
        after = self.materialization_cursor.get(asset, 0)
        key = dg.AssetKey(asset)
        while True:
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=after or None),
                limit=_PAGE,
                ascending=True,
            )
            for record in result.records:
                after = max(after, record.storage_id)
                facts = _materialization_facts(record, asset)
                if facts is None:
                    continue
                partition, mat = facts
                deployment = self._deployment(partition)
                if mat["data_version"]:
                    versions = deployment["versions"].setdefault(asset, {})
                    versions[str(mat["storage_id"])] = mat["data_version"]
                known = deployment["materializations"].get(asset)
                if known is None or known["storage_id"] < mat["storage_id"]:
                    deployment["materializations"][asset] = mat
                    changed.add(partition)
            if not result.has_more or not result.records:
                break
        self.materialization_cursor[asset] = after
        return changed

    def _read_runs(self, instance: dg.DagsterInstance) -> set[str]:
        changed: set[str] = set()
        since = self.run_cursor - _RUN_OVERLAP_SECONDS if self.run_cursor else None
        newest = self.run_cursor
        cursor: str | None = None
        while True:
            records = instance.get_run_records(
                dg.RunsFilter(updated_after=datetime.fromtimestamp(since, UTC) if since else None),
                limit=_PAGE,
                cursor=cursor,
                ascending=True,
            )
            for record in records:
                cursor = record.dagster_run.run_id
                updated = _unix(record.update_timestamp)
                newest = max(newest, updated)
                partition = deployment_partition(record.dagster_run)
                if partition is None:
                    continue
                deployment = self._deployment(partition)
                known = deployment["runs"].get(record.dagster_run.run_id)
                facts = _run_facts(record, known)
                if facts != known:
                    if facts["status"] in _FAILED and not facts["detailed"]:
                        _add_failure_details(instance, facts)
                    deployment["runs"][facts["run_id"]] = facts
                    changed.add(partition)
            if len(records) < _PAGE:
                break
        self.run_cursor = newest
        return changed


def _unix(value: datetime | float | None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def _scalar(value: dg.MetadataValue[Any] | Any) -> Scalar:
    raw = value.value if isinstance(value, dg.MetadataValue) else value
    if raw is None or isinstance(raw, str | int | float | bool):
        return raw
    return str(raw)


def _materialization_facts(
    record: dg.EventLogRecord, asset: str
) -> tuple[str, MaterializationFacts] | None:
    materialization = record.asset_materialization
    if materialization is None:
        return None
    partition = materialization.partition
    if not partition or not is_deployment_id(partition):
        return None
    tags = materialization.tags or {}
    upstream = UPSTREAM.get(asset)
    pointer = tags.get(_INPUT_POINTER_TAG + upstream) if upstream else None
    wanted = REPORTED_METADATA[asset]
    return partition, MaterializationFacts(
        storage_id=record.storage_id,
        run_id=record.run_id,
        timestamp=record.timestamp,
        data_version=tags.get(_DATA_VERSION_TAG),
        input_storage_id=int(pointer) if pointer and pointer.isdigit() else None,
        metadata={
            name: _scalar(value)
            for name, value in materialization.metadata.items()
            if name in wanted
        },
    )


def deployment_partition(run: dg.DagsterRun) -> str | None:
    """The deployment a run built, if it materializes any of the three assets."""
    partition = run.tags.get(PARTITION_TAG)
    if not partition or not is_deployment_id(partition) or run.job_name == CHECKS_JOB:
        return None
    selection = run.asset_selection
    # A job's own runs have no selection (all of the job); the UI's name their assets.
    if selection and not any(key.path[-1] in ASSETS for key in selection):
        return None  # e.g. only the asset checks were run again
    return partition


def _run_facts(record: dg.RunRecord, known: RunFacts | None) -> RunFacts:
    run = record.dagster_run
    tags = {
        name: value
        for name, value in run.tags.items()
        if name.startswith("deploy/") or name in (BACKFILL_TAG, ENQUEUED_TAG)
    }
    facts = RunFacts(
        run_id=run.run_id,
        status=run.status.value,
        created=_unix(record.create_timestamp),
        started=record.start_time,
        finished=record.end_time if run.status.value in _FINISHED else None,
        updated=_unix(record.update_timestamp),
        tags=tags,
        failed_step=None,
        step_seconds={},
        error=None,
        detailed=False,
    )
    if known is not None and known["detailed"] and known["status"] == facts["status"]:
        facts["failed_step"] = known["failed_step"]
        facts["step_seconds"] = known["step_seconds"]
        facts["error"] = known["error"]
        facts["detailed"] = True
        facts["updated"] = known["updated"]
    return facts


def _add_failure_details(instance: dg.DagsterInstance, facts: RunFacts) -> None:
    run_id = facts["run_id"]
    for step in instance.get_run_step_stats(run_id):
        if step.start_time is not None and step.end_time is not None:
            facts["step_seconds"][step.step_key] = round(step.end_time - step.start_time, 3)
        if step.status is not None and step.status.value == "FAILURE":
            facts["failed_step"] = step.step_key
    facts["error"] = _failure_message(
        instance.all_logs(
            run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
        )
    )
    facts["detailed"] = True


def _failure_message(entries: Iterable[dg.EventLogEntry]) -> str | None:
    """The first failure's whole message: the asset's own words (a dg.Failure description),
    which for a failed build go on with the build's last lines."""
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        text: str | None = None
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                text = data.user_failure_data.description
            elif data.error is not None:
                text = data.error.message
        else:
            text = event.message or entry.user_message
        if text and text.strip():
            return cut_at_line(text.strip(), _MAX_ERROR)
    return None
