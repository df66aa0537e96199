"""`collect_garbage`: apply the retention policy, then sweep unreferenced bodies (dagster-free).

For each deployment the policy removes, in this order (nothing is lost if it
stops half way; running it again finishes the job):
  1. its history is saved: the record as JSON at `history/removed/<id>.json`,
     then `before_delete(ids)` (the Dagster history rows, before step 4);
  2. its manifest is deleted: the deployment no longer exists for the edge;
  3. aliases are read again: one moved onto it meanwhile (a rollback) gets its
     manifest back and the deployment is kept;
  4. its Dagster records (`RunRecords`: runs, materializations, the partition);
  5. its source, artifact and the rest of `deployments/<id>/`;
  6. its Redis record (`GET /api/deployments/<id>` answers 404 from then on).
Then the mark and sweep of bodies (`sweep.py`). A dry run does only the
reading: what would go, and how many bytes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from deploy_platform.contracts.manifest import manifest_key
from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.retention.inventory import (
    deployment_records,
    needed_by_aliases,
    stored_bytes,
)
from deploy_platform.retention.policy import Decision, RetentionPolicy, decide, queued_at
from deploy_platform.retention.sweep import CLOCK_MARGIN_SECONDS, mark, sweep, unreferenced
from deploy_platform.storage import ObjectNotFound, ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["RunRecords", "Removal", "GcReport", "collect_garbage", "archive_key"]


class RunRecords(Protocol):
    """The Dagster side (`deploy_platform.orchestration.jobs.purge.DagsterRecords`)."""

    def busy(self, deployment_ids: Sequence[str]) -> set[str]:
        """The ids with a run that has not finished (a re-materialization from the UI)."""
        ...

    def delete(self, deployment_ids: Sequence[str]) -> None:
        """Remove the partitions, their runs and their materializations."""
        ...


def archive_key(deployment_id: str) -> str:
    return f"history/removed/{deployment_id}.json"


@dataclass(frozen=True)
class Removal:
    id: str
    project: str
    branch: str
    status: str
    queued_at: float
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class GcReport:
    dry_run: bool
    policy: RetentionPolicy
    removed: list[Removal] = field(default_factory=list)
    kept: list[Decision] = field(default_factory=list)
    #: Ids the policy would remove that something claimed while removing (an alias moved).
    spared: dict[str, str] = field(default_factory=dict)
    bodies: int = 0
    body_bytes: int = 0
    sweep_deferred: str | None = None

    @property
    def deployment_bytes(self) -> int:
        return sum(r.bytes for r in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "policy": {
                "keep_per_branch": self.policy.keep_per_branch,
                "keep_days": self.policy.keep_days,
                "skew_grace_seconds": self.policy.skew_grace_seconds,
            },
            "removed": [r.to_dict() for r in self.removed],
            "deployment_bytes": self.deployment_bytes,
            "bodies": self.bodies,
            "body_bytes": self.body_bytes,
            "kept": [
                {"id": d.record.id, "project": d.record.project, "reasons": list(d.reasons)}
                for d in self.kept
            ],
            "spared": self.spared,
            "sweep_deferred": self.sweep_deferred,
        }


def collect_garbage(
    store: ObjectStore,
    state: PlatformState,
    policy: RetentionPolicy,
    *,
    dry_run: bool,
    runs: RunRecords | None = None,
    before_delete: Callable[[Sequence[str]], None] | None = None,
    now: float | None = None,
    sweep_wait_seconds: float = 60.0,
    clock_margin_seconds: float = CLOCK_MARGIN_SECONDS,
) -> GcReport:
    """Remove what `policy` lets go (or, with `dry_run`, only say what that is)."""
    now = time.time() if now is None else now
    records = list(deployment_records(state))
    needed = needed_by_aliases(store, state, now, policy.skew_grace_seconds)
    if runs is not None:
        for deployment_id in runs.busy([r.id for r in records]):
            needed.setdefault(deployment_id, []).append("a Dagster run of it is going on")
    decisions = decide(records, needed, policy, now)
    report = GcReport(dry_run=dry_run, policy=policy, kept=[d for d in decisions if d.keep])
    owned = stored_bytes(store)
    going = [d.record for d in decisions if not d.keep]
    if not dry_run:
        going = _remove(store, state, going, runs, before_delete, report, owned.keys, now)
    report.removed = [
        Removal(
            r.id, r.project, r.ref or "", r.status.value, queued_at(r), owned.sizes.get(r.id, 0)
        )
        for r in going
    ]
    # Mark after the deployments went (a dry run: as if they had).
    marked = mark(store, skip={manifest_key(r.id) for r in going})
    candidates = unreferenced(store, marked, clock_margin_seconds=clock_margin_seconds)
    if dry_run:
        report.bodies, report.body_bytes = len(candidates), sum(candidates.values())
        return report
    swept = sweep(store, state, marked, candidates, wait_seconds=sweep_wait_seconds)
    report.bodies, report.body_bytes = len(swept.removed), sum(swept.removed.values())
    report.sweep_deferred = swept.deferred
    return report


def _remove(
    store: ObjectStore,
    state: PlatformState,
    going: list[DeploymentRecord],
    runs: RunRecords | None,
    before_delete: Callable[[Sequence[str]], None] | None,
    report: GcReport,
    owned_keys: dict[str, list[str]],
    now: float,
) -> list[DeploymentRecord]:
    if not going:
        return []
    for record in going:
        # The public form: build variables' values are never written anywhere else.
        body = {"record": record.to_public_dict(), "removed_at": time.time()}
        store.put_bytes(archive_key(record.id), json.dumps(body).encode(), "application/json")
    if before_delete is not None:
        before_delete([r.id for r in going])
    manifests: dict[str, bytes] = {}
    for record in going:
        try:
            manifests[record.id] = store.get_bytes(manifest_key(record.id))
        except ObjectNotFound:
            continue  # failed deployments have none
        store.delete(manifest_key(record.id))
    # An alias that moved onto one of them since the plan (a rollback), or a run
    # started from the UI meanwhile, keeps it: its manifest is put back.
    needed = needed_by_aliases(store, state, now, report.policy.skew_grace_seconds)
    if runs is not None:
        for deployment_id in runs.busy([r.id for r in going]):
            needed.setdefault(deployment_id, []).append("a Dagster run of it is going on")
    removed = []
    for record in going:
        if record.id in needed:
            if record.id in manifests:
                store.put_bytes(manifest_key(record.id), manifests[record.id], "application/json")
            report.spared[record.id] = "; ".join(needed[record.id])
        else:
            removed.append(record)
    if runs is not None:
        runs.delete([r.id for r in removed])
    for record in removed:
        for key in owned_keys.get(record.id, []):
            store.delete(key)
        _forget(state, record)
    return removed


def _forget(state: PlatformState, record: DeploymentRecord) -> None:
    pipe = state.redis.pipeline(transaction=True)
    pipe.delete(state.key("deployment", record.id))
    pipe.zrem(state.key("project", record.project), record.id)
    pipe.delete(state.key("claim", record.id))
    # Edge-origins cache manifests without a TTL: this one is gone (serve.invalidation).
    pipe.publish(state.key("deployment-removed"), record.id)
    pipe.execute()
