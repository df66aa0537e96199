"""How long `deploy-platform history` takes over 10,000 deployments' Dagster records.

    .venv/bin/python -m benchmarks.history_query [--deployments 10000] [--home DIR] [--repeat 5]

1. Builds a real Dagster instance (SQLite storage in DIR, kept for later runs: a
   second run with the same --home and count reuses it) holding the records that
   N deployments leave: for each, a run of the `deploy` job with the queue sensor's
   tags, and the events the history reads written through
   `DagsterInstance.handle_new_event` (what a run worker calls): RUN_START, one
   ASSET_MATERIALIZATION per asset carrying the metadata, tags, data versions and
   input event pointers the real assets write, RUN_SUCCESS; a failed run has
   STEP_START / STEP_FAILURE for its failed step and RUN_FAILURE. (A real run also
   logs step starts, outputs and messages, which the history does not read.)
   8% fail in built_artifact, 3% get a second run (re-materialized
   from the UI), 20 projects, 20% on a preview branch. The event log is Dagster's
   consolidated SQLite storage (one file): with the default per-run files, writing
   10,000 runs takes over an hour here; the history reads the same tables
   (the asset event index and the runs table) from either.
2. Times the history query (`HistoryService.page`, the first page of 100 rows,
   newest first, as `GET /api/history` answers it):
   - cold: no export yet, every record read through the public API
   - warm, new process: the export loaded from disk, then refreshed (nothing new)
   - warm, running API: the same service asked again (nothing new)
   - after 20 new deployments: the refresh reads only those
   - a filtered query (one project, since a date)
   - paging through every row, 1,000 at a time, as frames and as the API's JSON
   Medians of --repeat runs (cold: one run). The goal: under 2 s warm.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import dagster as dg

# Constructing the events a run worker writes needs Dagster's event classes, which
# are not exported at the top level; they are written through the public
# `handle_new_event`, exactly as a run does.
from dagster._core.events import (
    DagsterEvent,
    DagsterEventType,
    EventSpecificData,
    StepMaterializationData,
)
from dagster._core.execution.plan.objects import StepFailureData, UserFailureData

from deploy_platform.api.history import page_body
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.tags import ENQUEUED_TAG, PARTITION_TAG, TRIGGER_TAG, iso_time
from deploy_platform.history.export import export_path
from deploy_platform.history.facts import ARTIFACT, ASSETS, PUBLISHED, SOURCE
from deploy_platform.history.moves import AliasMoveLog
from deploy_platform.history.query import HistoryQuery
from deploy_platform.history.service import HistoryService
from deploy_platform.orchestration.jobs.deploy import DEPLOY_JOB
from deploy_platform.storage.local import LocalObjectStore

DAGSTER_YAML = """\
telemetry:
  enabled: false
event_log_storage:
  module: dagster.core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {base}
"""
PROJECTS = 20
_CHECK_EVERY = 250
_START = 1_780_000_000.0  # 2026-05-28


def _event(
    run_id: str,
    at: float,
    kind: DagsterEventType,
    step: str | None = None,
    data: EventSpecificData | None = None,
) -> dg.EventLogEntry:
    return dg.EventLogEntry(  # type: ignore[no-untyped-call]
        error_info=None,
        level=10,
        user_message="",
        run_id=run_id,
        timestamp=at,
        step_key=step,
        job_name=DEPLOY_JOB,
        dagster_event=DagsterEvent(
            event_type_value=kind.value,
            job_name=DEPLOY_JOB,
            step_key=step,
            event_specific_data=data,
        ),
    )


class Generator:
    def __init__(self, instance: dg.DagsterInstance, seed: int = 7) -> None:
        self.instance = instance
        self.random = random.Random(seed)
        # The storage id the next event gets: one writer, so ids are consecutive. Read
        # from the store whenever unknown, and checked again every `_CHECK_EVERY` runs.
        self.next_id: int | None = None
        self.runs = 0
        self.partitions: list[str] = []

    def flush(self) -> None:
        if self.partitions:
            self.instance.add_dynamic_partitions("deployments", self.partitions)
            self.partitions = []

    def _emit(self, entry: dg.EventLogEntry) -> None:
        self.instance.handle_new_event(entry)
        if self.next_id is not None:
            self.next_id += 1

    def _stored_id(self, asset: str, dep: str) -> int:
        if self.next_id is None or self.runs % _CHECK_EVERY == 0:
            stored = self.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[dep]),
                limit=1,
            ).records[0]
            self.next_id = stored.storage_id + 1
        return self.next_id - 1

    def deployment(self, index: int, at: float) -> None:
        rng = self.random
        dep = new_deployment_id()
        project = f"site{index % PROJECTS:02d}"
        preview = rng.random() < 0.2
        ref = f"feature/change-{index % 7}" if preview else "main"
        commit = hashlib.sha1(f"{index}".encode()).hexdigest()
        tags = {
            "deploy/project": project,
            "deploy/source": "git",
            "deploy/environment": "preview" if preview else "production",
            TRIGGER_TAG: "webhook" if rng.random() < 0.3 else "api",
            "deploy/ref": ref,
            "deploy/commit": commit,
            ENQUEUED_TAG: iso_time(at),
        }
        fails = rng.random() < 0.08
        self.partitions.append(dep)
        self.run(dep, project, ref, commit, tags, at + rng.uniform(0.8, 3.0), fails, at)
        if not fails and rng.random() < 0.03:
            # Started by hand: no enqueue tag, so its row counts from when the run was made
            # (the storage's clock, now); it starts a moment later.
            ui_tags = {k: v for k, v in tags.items() if k not in (TRIGGER_TAG, ENQUEUED_TAG)}
            self.run(dep, project, ref, commit, ui_tags, time.time() + 1.0, False, at)

    def run(
        self,
        dep: str,
        project: str,
        ref: str,
        commit: str,
        tags: dict[str, str],
        at: float,
        fails: bool,
        trend_at: float,
    ) -> None:
        rng = self.random
        run_id = str(uuid.uuid4())
        self.runs += 1
        self.instance.add_run(
            dg.DagsterRun(
                job_name=DEPLOY_JOB,
                run_id=run_id,
                tags={**tags, PARTITION_TAG: dep},
                status=dg.DagsterRunStatus.NOT_STARTED,
                asset_selection=frozenset(dg.AssetKey(asset) for asset in ASSETS),
            )
        )
        emit = self._emit
        emit(_event(run_id, at, DagsterEventType.RUN_START))
        # A build that slowly gets slower in one project: what --plot is for.
        slower = 1.0 + (trend_at - _START) / 3e6 if project == "site03" else 1.0
        seconds = {
            SOURCE: rng.uniform(0.5, 3.0),
            ARTIFACT: rng.uniform(5, 40) * slower,
            PUBLISHED: rng.uniform(0.3, 2.0),
        }
        upstream: tuple[int, str] | None = None
        for asset in ASSETS:
            at += seconds[asset]
            if fails and asset == ARTIFACT:
                emit(_event(run_id, at - seconds[asset], DagsterEventType.STEP_START, asset))
                failure = StepFailureData(  # type: ignore[no-untyped-call]
                    error=None,
                    user_failure_data=UserFailureData(  # type: ignore[no-untyped-call]
                        label="intentional-failure",
                        description="`npm run build` exited with status 1: error TS2322",
                    ),
                )
                emit(_event(run_id, at, DagsterEventType.STEP_FAILURE, asset, failure))
                emit(_event(run_id, at + 0.05, DagsterEventType.RUN_FAILURE))
                return
            version = hashlib.sha256(f"{dep}{asset}".encode()).hexdigest()
            mat_tags = {"dagster/data_version": version, "deploy/project": project}
            if upstream is not None:
                parent = SOURCE if asset == ARTIFACT else ARTIFACT
                mat_tags[f"dagster/input_event_pointer/{parent}"] = str(upstream[0])
                mat_tags[f"dagster/input_data_version/{parent}"] = upstream[1]
            metadata = self._metadata(asset, dep, project, ref, commit, seconds[asset])
            materialization = dg.AssetMaterialization(
                asset_key=asset, partition=dep, metadata=metadata, tags=mat_tags
            )
            emit(
                _event(
                    run_id,
                    at - 0.01,
                    DagsterEventType.ASSET_MATERIALIZATION,
                    asset,
                    StepMaterializationData(materialization),
                )
            )
            upstream = (self._stored_id(asset, dep), version)
        emit(_event(run_id, at + 0.05, DagsterEventType.RUN_SUCCESS))

    def _metadata(
        self, asset: str, dep: str, project: str, ref: str, commit: str, seconds: float
    ) -> dict[str, dg.RawMetadataValue]:
        rng = self.random
        url = dg.MetadataValue.url(f"http://{dep}.localhost:8080/")
        if asset == SOURCE:
            return {
                "source": "git",
                "repo": dg.MetadataValue.url(f"https://git.example.com/team/{project}.git"),
                "ref": ref,
                "commit": commit,
                "files": rng.randint(20, 400),
                "bytes": rng.randint(10**5, 10**7),
                "archive_bytes": rng.randint(10**4, 10**6),
                "archive": dg.MetadataValue.path(f"sources/{dep}.tar.gz"),
                "duration_s": round(seconds, 3),
                "project": project,
                "url": url,
            }
        if asset == ARTIFACT:
            install = round(seconds * 0.4, 3)
            return {
                "framework": "vite",
                "output_dir": "dist/",
                "install_command": "npm ci",
                "build_command": "npm run build",
                "files": rng.randint(10, 200),
                "bytes": rng.randint(10**5, 10**7),
                "archive_bytes": rng.randint(10**4, 10**6),
                "archive": dg.MetadataValue.path(f"artifacts/{dep}.tar.gz"),
                "install_s": install,
                "build_s": round(seconds - install, 3),
                "duration_s": round(seconds + 0.2, 3),
                "build_node_version": "22.11.0",
                "build_cache_hit": "exact",
                "build_log_tail": dg.MetadataValue.md(
                    "````\nvite v5 building for production\n````"
                ),
                "url": url,
            }
        total = rng.randint(10**5, 10**7)
        reused = int(total * rng.uniform(0.5, 1.0))
        return {
            "files": rng.randint(10, 200),
            "bytes": total,
            "files_uploaded": rng.randint(0, 10),
            "bytes_uploaded": total - reused,
            "files_reused": rng.randint(10, 190),
            "bytes_reused": reused,
            "manifest": dg.MetadataValue.path(f"deployments/{dep}/manifest.json"),
            "aliases_moved": project,
            "duration_s": round(seconds, 3),
            "commit_status": "not posted: commit statuses are off",
            "url": url,
            "url_production": dg.MetadataValue.url(f"http://{project}.localhost:8080/"),
        }


def _instance(home: Path) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML.format(base=home / "storage"))
    return dg.DagsterInstance.from_config(str(home))


def _count(instance: dg.DagsterInstance) -> int:
    return instance.get_runs_count(dg.RunsFilter(tags={TRIGGER_TAG: ["api", "webhook"]}))


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=10_000)
    parser.add_argument("--home", type=Path, help="DAGSTER_HOME to build or reuse")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="dp-history-bench-"))
    instance = _instance(home)
    store = LocalObjectStore(home / "objects")
    have = _count(instance)
    generator = Generator(instance)
    if have < args.deployments:
        print(f"writing {args.deployments - have} deployments' records into {home} ...", flush=True)
        started = time.perf_counter()
        for index in range(have, args.deployments):
            generator.deployment(index, _START + index * 90.0)
            if (index + 1) % 500 == 0:
                generator.flush()
                print(f"  {index + 1} ({time.perf_counter() - started:.0f} s)", flush=True)
        generator.flush()
    first_page = HistoryQuery(limit=100)
    export_path(instance).unlink(missing_ok=True)

    def api_service() -> HistoryService:
        """As the control API makes it (with the alias move log)."""
        return HistoryService(instance, store, alias_moves=AliasMoveLog(store))

    service = api_service()
    cold = _timed(lambda: service.page(first_page))
    total = service.page(first_page).total
    fresh = [_timed(lambda: api_service().page(first_page)) for _ in range(args.repeat)]
    warm = [_timed(lambda: service.page(first_page)) for _ in range(args.repeat)]
    count = _count(instance)
    for index in range(count, count + 20):
        generator.deployment(index, _START + index * 90.0)
    generator.flush()
    after_new = _timed(lambda: service.page(first_page))
    filtered = [
        _timed(
            lambda: service.page(
                HistoryQuery(project="site03", since=_START + 86400 * 3, limit=100)
            )
        )
        for _ in range(args.repeat)
    ]

    def every_page() -> None:
        cursor = None
        while True:
            page = service.page(HistoryQuery(limit=1000, cursor=cursor))
            cursor = page.next_cursor
            if cursor is None:
                break

    paging = [_timed(every_page) for _ in range(args.repeat)]

    def every_page_as_json() -> None:
        cursor = None
        while True:
            body = page_body(service, HistoryQuery(limit=1000, cursor=cursor))
            json.dumps(body)
            cursor = body["next_cursor"]
            if cursor is None:
                break

    answers = [_timed(every_page_as_json) for _ in range(args.repeat)]
    print(f"\n{total} deployments (+20 added during the run) in {home}")
    print(f"cold (no export: every record read)           {cold:8.2f} s")
    print(f"warm, new process (export from disk), median  {statistics.median(fresh):8.3f} s")
    print(f"warm, running service, median                 {statistics.median(warm):8.3f} s")
    print(f"after 20 new deployments                      {after_new:8.3f} s")
    print(f"one project since a date, median              {statistics.median(filtered):8.3f} s")
    print(f"every row, 1,000 a page, median               {statistics.median(paging):8.3f} s")
    print(f"every row as the API's JSON, median           {statistics.median(answers):8.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
