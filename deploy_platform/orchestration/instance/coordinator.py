"""`LaunchOnSubmitCoordinator`: Dagster's run queue, minus the wait when nothing is queued.

Dagster's QueuedRunCoordinator puts every submitted run in the queue, and its
daemon loop launches queued runs once per `dequeue_interval_seconds`: a deployment
whose run the queue sensor submits waits up to that interval (and the loop's own
reads) with every build slot free. This coordinator is that queue, with the same
configuration, limits and daemon, plus one rule: a run a sensor submits is launched
at once, in the submitting thread, when no other run is queued and it fits the
limits (`max_concurrent_runs`, and `tag_concurrency_limits` such as the per-project
`deploy/project` limit). Otherwise it waits in the queue as before, in order.

And when a run worker exits (the fork server says so, instance/launcher.py), its
slot is free: the queued runs that fit start then, in the queue's order (priority,
then age), not at the dequeue loop's next pass; that loop stays, as the backstop
for runs queued while no worker exits (a restarted daemon, a run from the UI).

Only sensor-submitted runs (Dagster's `dagster/sensor_name` tag) take the short way at submit:
they are submitted by the daemon, whose run launcher keeps the warm fork server
(instance/launcher.py). A run started in the UI is submitted by the webserver and
still goes through the queue, so the webserver never starts run workers itself.

The launch mirrors the dequeue loop's: the run is marked STARTING, then handed to
the run launcher. Should the dequeue loop pick the same run in the same instant,
the launcher launches it once (it remembers the runs this process launched).
Within one daemon the limits hold: submissions are checked one at a time, and a
run counts as in progress from the moment it is STARTING. A dequeue running in
that same instant reads the counts before it and may start one run more than a
limit allows, once; the queue's own loop has the same window with several workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.launcher import LaunchRunContext
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import PRIORITY_TAG, SENSOR_NAME_TAG
from dagster._core.workspace.context import BaseWorkspaceRequestContext

__all__ = ["LaunchOnSubmitCoordinator", "fits_limits"]

log = logging.getLogger("deploy_platform.coordinator")

_IN_PROGRESS = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
# One decision at a time: two submissions must not both take the last free slot.
_DECIDING = threading.Lock()


def _rule_matches(
    rule: Mapping[str, Any], run_tags: Mapping[str, str], tags: Mapping[str, str]
) -> bool:
    """Whether a running run with `tags` counts against `rule` for a run with `run_tags`."""
    key = str(rule.get("key", ""))
    if key not in run_tags or key not in tags:
        return False
    value = rule.get("value")
    if isinstance(value, Mapping) and value.get("applyLimitPerUniqueValue"):
        return tags[key] == run_tags[key]
    if value is None:
        return True
    return tags[key] == run_tags[key] == str(value)


def fits_limits(
    run: DagsterRun,
    running: Sequence[DagsterRun],
    max_concurrent_runs: int,
    tag_concurrency_limits: Sequence[Mapping[str, Any]],
) -> bool:
    """Whether `run` may start while `running` are in progress (-1: no overall limit)."""
    if 0 <= max_concurrent_runs <= len(running):
        return False
    for rule in tag_concurrency_limits:
        key = str(rule.get("key", ""))
        if key not in run.tags:
            continue
        value = rule.get("value")
        if value is not None and not isinstance(value, Mapping) and run.tags[key] != str(value):
            continue
        holding = sum(_rule_matches(rule, run.tags, other.tags) for other in running)
        if holding >= int(rule["limit"]):
            return False
    return True


def _priority(run: DagsterRun) -> int:
    try:
        return int(run.tags.get(PRIORITY_TAG, "0"))
    except ValueError:
        return 0


class LaunchOnSubmitCoordinator(QueuedRunCoordinator):
    """QueuedRunCoordinator that launches a sensor's run at once when nothing waits,
    and the next queued runs the moment a worker frees a slot."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = super().submit_run(context)
        if run.status is not DagsterRunStatus.QUEUED or SENSOR_NAME_TAG not in run.tags:
            return run
        with _DECIDING:
            if not self._may_start_now(run):
                return run
            started = self._mark_starting(run)
        if started is not None:
            self._launch(started, context.workspace)
        return self._instance.get_run_by_id(run.run_id) or run

    def launch_queued(self) -> int:
        """Start the queued runs that fit now, by priority then age (the queue's own
        order); how many. Called when a run worker exits (instance/launcher.py)."""
        chosen: list[DagsterRun] = []
        with _DECIDING:
            queued = self._instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.QUEUED]))
            if not queued:
                return 0
            config = self.get_run_queue_config()
            running = list(self._instance.get_runs(RunsFilter(statuses=_IN_PROGRESS)))
            # Newest first from storage: reversed, then a stable sort by priority.
            for run in sorted(reversed(queued), key=lambda r: -_priority(r)):
                limits = config.tag_concurrency_limits or ()
                if not fits_limits(run, running, config.max_concurrent_runs, limits):
                    continue
                started = self._mark_starting(run)
                if started is not None:
                    chosen.append(started)
                    running.append(started)
        for run in chosen:
            self._launch(run, None)
        return len(chosen)

    def _launch(self, started: DagsterRun, workspace: BaseWorkspaceRequestContext | None) -> None:
        try:
            self._instance.run_launcher.launch_run(
                LaunchRunContext(dagster_run=started, workspace=workspace)
            )
        except Exception as exc:
            # Marked STARTING, so the queue will not pick it up again: fail it, naming why;
            # the deployment's failure sensor reports it.
            log.exception("launching run %s failed", started.run_id)
            self._instance.report_run_failed(
                started, message=f"Launching the run failed: {type(exc).__name__}: {exc}"
            )

    def _may_start_now(self, run: DagsterRun) -> bool:
        if self._instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED])) > 1:
            return False  # others wait longer: the queue keeps its order
        config = self.get_run_queue_config()
        running = self._instance.get_runs(RunsFilter(statuses=_IN_PROGRESS))
        return fits_limits(
            run, running, config.max_concurrent_runs, config.tag_concurrency_limits or ()
        )

    def _mark_starting(self, run: DagsterRun) -> DagsterRun | None:
        current = self._instance.get_run_by_id(run.run_id)
        if current is None or current.status is not DagsterRunStatus.QUEUED:
            return None  # the dequeue loop took it
        starting = DagsterEvent(
            event_type_value=DagsterEventType.PIPELINE_STARTING.value, job_name=run.job_name
        )
        self._instance.report_dagster_event(starting, run_id=run.run_id)
        return self._instance.get_run_by_id(run.run_id)
