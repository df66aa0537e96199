"""One history row per deployment, from its facts (`facts.py`); no Dagster needed.

The row describes the deployment's latest run (status, trigger, times, error) and the
latest materialization of each asset (stage durations, files, URL, lineage):

  status      ready · failed · canceled · running · queued · incomplete (the latest run
              succeeded but nothing was ever published, e.g. one asset re-materialized)
  trigger     api · webhook (the queue sensor's tag) · ui-rematerialization · backfill;
              rollback · promote when an alias was pointed back at it after its latest
              run (`apply_alias_moves`, from the alias move log)
  enqueued    when the API queued it (`deploy/enqueued_at`), else when the run was made
  *_s         seconds: queued (enqueued to started), clone (source_archive), install and
              build (built_artifact), publish (published_deployment). A stage that failed
              reports how long its step ran; stages after it report nothing.
  lineage     each asset's event storage id and data version, and the storage id and
              data version of the upstream materialization it was made from
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from deploy_platform.contracts.tags import (
    COMMIT_TAG,
    ENVIRONMENT_TAG,
    PROJECT_TAG,
    REF_TAG,
    enqueued_of,
    iso_time,
    trigger_of,
)
from deploy_platform.history.facts import (
    ARTIFACT,
    ASSETS,
    PUBLISHED,
    SOURCE,
    UPSTREAM,
    DeploymentFacts,
    MaterializationFacts,
    RunFacts,
)

__all__ = [
    "ALIAS_TRIGGERS",
    "apply_alias_moves",
    "COLUMNS",
    "TIME_COLUMNS",
    "INTEGER_COLUMNS",
    "STAGES",
    "deployment_row",
    "json_row",
    "parse_time",
]

#: Column -> what it holds, in output order (docs/guides/history.md's table says the same).
COLUMNS: dict[str, str] = {
    "id": "deployment id",
    "project": "project",
    "branch": "the ref deployed",
    "commit": "pinned commit",
    "environment": "production or preview",
    "trigger": "api, webhook, ui-rematerialization, backfill (its latest run), or rollback "
    "or promote (an alias moved back to it since)",
    "status": "ready, failed, canceled, running, queued or incomplete",
    "enqueued": "when it was queued (UTC)",
    "started": "when its latest run started",
    "finished": "when its latest run finished",
    "queued_s": "seconds from enqueued to started",
    "clone_s": "seconds to clone and archive the source",
    "install_s": "seconds to install dependencies",
    "build_s": "seconds to build",
    "publish_s": "seconds to publish",
    "files": "files published",
    "bytes": "bytes published",
    "bytes_uploaded": "bytes uploaded (bodies the store lacked)",
    "bytes_reused": "bytes reused from earlier deployments",
    "url": "the deployment's URL",
    "framework": "detected framework",
    "failed_stage": "the asset whose step failed",
    "error": "why the latest run failed",
    "runs": "runs of this deployment",
    "run_id": "its latest run",
    "source_storage_id": "source_archive materialization (event storage id)",
    "source_data_version": "source_archive data version",
    "artifact_storage_id": "built_artifact materialization",
    "artifact_data_version": "built_artifact data version",
    "artifact_source_storage_id": "the source_archive materialization it was built from",
    "artifact_source_data_version": "that source_archive's data version",
    "published_storage_id": "published_deployment materialization",
    "published_data_version": "published_deployment data version",
    "published_artifact_storage_id": "the built_artifact materialization it published",
    "published_artifact_data_version": "that built_artifact's data version",
    "archived": "its Dagster records were removed; the row was kept",
}
TIME_COLUMNS = ("enqueued", "started", "finished")
#: Whole numbers (a frame holds them as floats when some rows have none).
INTEGER_COLUMNS = frozenset(
    {"files", "bytes", "bytes_uploaded", "bytes_reused", "runs"}
    | {name for name in COLUMNS if name.endswith("_storage_id")}
)
#: Stage columns, in pipeline order (summary and plot use them).
STAGES = ("queued_s", "clone_s", "install_s", "build_s", "publish_s")
_STAGE_ASSET = {
    "clone_s": SOURCE,
    "install_s": ARTIFACT,
    "build_s": ARTIFACT,
    "publish_s": PUBLISHED,
}
_STAGE_METADATA = {
    "clone_s": "duration_s",
    "install_s": "install_s",
    "build_s": "build_s",
    "publish_s": "duration_s",
}
_UPSTREAM_NAMES = {SOURCE: "source", ARTIFACT: "artifact"}
_RUN_STATUS = {
    "SUCCESS": "ready",
    "FAILURE": "failed",
    "CANCELED": "canceled",
    "CANCELING": "running",
    "STARTED": "running",
    "STARTING": "queued",
    "NOT_STARTED": "queued",
    "QUEUED": "queued",
    "MANAGED": "running",
}


def parse_time(text: str | None) -> float | None:
    """An ISO 8601 time (`2026-12-03T10:10:20.639Z`) as Unix seconds."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _integer(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _latest_run(facts: DeploymentFacts) -> RunFacts | None:
    runs = list(facts["runs"].values())
    return max(runs, key=lambda run: (run["created"], run["run_id"])) if runs else None


def _stage_seconds(
    stage: str, mats: dict[str, MaterializationFacts], run: RunFacts | None
) -> float | None:
    asset = _STAGE_ASSET[stage]
    failed = run["failed_step"] if run is not None else None
    if failed in ASSETS:
        order = ASSETS.index(failed)
        if ASSETS.index(asset) > order:
            return None  # never ran
        if asset == failed and run is not None:
            # A failed build does not say how its time split between install and build.
            return None if stage == "install_s" else run["step_seconds"].get(failed)
    mat = mats.get(asset)
    return _number(mat["metadata"].get(_STAGE_METADATA[stage])) if mat else None


def deployment_row(facts: DeploymentFacts) -> dict[str, Any]:
    mats = facts["materializations"]
    source, artifact, published = mats.get(SOURCE), mats.get(ARTIFACT), mats.get(PUBLISHED)
    run = _latest_run(facts)
    tags = run["tags"] if run is not None else {}
    source_meta = source["metadata"] if source else {}

    status = _RUN_STATUS.get(run["status"], run["status"].lower()) if run else None
    if status == "ready" and published is None:
        status = "incomplete"
    if run is None and published is not None:
        status = "ready"  # reported without a run (runless materializations)
    enqueued = parse_time(enqueued_of(tags)) if run else None
    if enqueued is None and run is not None:
        enqueued = run["created"]
    if enqueued is None:
        enqueued = min((mat["timestamp"] for mat in mats.values()), default=None)
    started = run["started"] if run else None
    failed = run is not None and run["status"] in ("FAILURE", "CANCELED")

    row: dict[str, Any] = {
        "id": facts["id"],
        "project": tags.get(PROJECT_TAG) or source_meta.get("project"),
        "branch": tags.get(REF_TAG) or source_meta.get("ref") or None,
        "commit": tags.get(COMMIT_TAG) or source_meta.get("commit"),
        "environment": tags.get(ENVIRONMENT_TAG),
        "trigger": trigger_of(tags) if run is not None else None,
        "status": status,
        "enqueued": enqueued,
        "started": started,
        "finished": run["finished"] if run else None,
        "queued_s": round(started - enqueued, 3) if started and enqueued else None,
        **{stage: _stage_seconds(stage, mats, run) for stage in _STAGE_ASSET},
        "files": _integer(published["metadata"].get("files")) if published else None,
        "bytes": _integer(published["metadata"].get("bytes")) if published else None,
        "bytes_uploaded": _integer(published["metadata"].get("bytes_uploaded"))
        if published
        else None,
        "bytes_reused": _integer(published["metadata"].get("bytes_reused")) if published else None,
        "url": published["metadata"].get("url") if published else None,
        "framework": artifact["metadata"].get("framework") if artifact else None,
        "failed_stage": run["failed_step"] if failed and run else None,
        "error": run["error"] if failed and run else None,
        "runs": len(facts["runs"]),
        "run_id": run["run_id"] if run else None,
        **_lineage(facts, "source", SOURCE),
        **_lineage(facts, "artifact", ARTIFACT),
        **_lineage(facts, "published", PUBLISHED),
        "archived": False,
    }
    return row


#: Alias moves that make an older deployment live again without a run.
ALIAS_TRIGGERS = frozenset({"rollback", "promote"})


def apply_alias_moves(rows: dict[str, dict[str, Any]], moves: Iterable[Mapping[str, Any]]) -> None:
    """Let a rollback or promote name the trigger of the deployment it pointed an alias at,
    when it came after that deployment's latest run: it is what last made it live.

    `moves` are alias move log entries (`{"at", "to", "reason", ...}`,
    `deploy_platform.publish.alias_moves`); other reasons are the runs' own doing.
    """
    latest: dict[str, tuple[float, str]] = {}
    for move in moves:
        target, reason, at = move.get("to"), move.get("reason"), _number(move.get("at"))
        if not isinstance(target, str) or reason not in ALIAS_TRIGGERS or at is None:
            continue
        if target not in latest or latest[target][0] < at:
            latest[target] = (at, str(reason))
    for deployment_id, (at, reason) in latest.items():
        row = rows.get(deployment_id)
        if row is None:
            continue
        ran = _number(row.get("started")) or _number(row.get("enqueued")) or 0.0
        if at > ran:
            row["trigger"] = reason


def _lineage(facts: DeploymentFacts, name: str, asset: str) -> dict[str, int | str | None]:
    mat = facts["materializations"].get(asset)
    out: dict[str, int | str | None] = {
        f"{name}_storage_id": mat["storage_id"] if mat else None,
        f"{name}_data_version": mat["data_version"] if mat else None,
    }
    parent = UPSTREAM.get(asset)
    if parent is not None:
        pointer = mat["input_storage_id"] if mat else None
        upstream = _UPSTREAM_NAMES[parent]
        out[f"{name}_{upstream}_storage_id"] = pointer
        out[f"{name}_{upstream}_data_version"] = (
            facts.get("versions", {}).get(parent, {}).get(str(pointer)) if pointer else None
        )
    return out


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the API answers it: times as ISO 8601 UTC, no NaN."""
    out: dict[str, Any] = {}
    for name in COLUMNS:
        value = row.get(name)
        if name in TIME_COLUMNS:
            value = _utc(value)
        elif isinstance(value, float) and math.isnan(value):
            value = None
        elif name in INTEGER_COLUMNS and isinstance(value, float):
            value = int(value)
        elif name == "archived":
            value = bool(value)
        out[name] = value
    return out


def _utc(at: object) -> str | None:
    number = _number(at)
    if number is None or math.isnan(number):
        return None
    return iso_time(number)
