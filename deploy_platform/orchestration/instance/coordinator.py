"""`LaunchOnSubmitCoordinator`: Dagster's run queue, minus the wait when nothing is queued.

Dagster's QueuedRunCoordinator puts every submitted run in the queue, and its
daemon loop launches queued runs once per `dequeue_interval_seconds`: a deployment
whose run the queue sensor submits waits up to that interval (and the loop's own
reads) with every build slot free. This coordinator is that queue, with the same
configuration, limits and daemon, plus one rule: a run a sensor submits is launched
at once, in the submitting thread, when no other run is queued and it fits the
limits (`max_concurrent_runs`, and `tag_concurrency_limits` such as the per-project
`deploy/project` limit). Otherwise it waits in the queue as before, in order.

Only sensor-submitted runs (Dagster's `dagster/sensor_name` tag) take the short way:
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
from dagster._core.storage.tags import SENSOR_NAME_TAG

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


class LaunchOnSubmitCoordinator(QueuedRunCoordinator):
    """QueuedRunCoordinator that launches a sensor's run at once when nothing waits."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = super().submit_run(context)
        if run.status is not DagsterRunStatus.QUEUED or SENSOR_NAME_TAG not in run.tags:
            return run
        with _DECIDING:
            if not self._may_start_now(run):
                return run
            started = self._mark_starting(run)
        if started is None:
            return run
        try:
            self._instance.run_launcher.launch_run(
                LaunchRunContext(dagster_run=started, workspace=context.workspace)
            )
        except Exception as exc:
            # Marked STARTING, so the queue will not pick it up again: fail it, naming why;
            # the deployment's failure sensor reports it.
            log.exception("launching run %s failed", run.run_id)
            self._instance.report_run_failed(
                started, message=f"Launching the run failed: {type(exc).__name__}: {exc}"
            )
        return self._instance.get_run_by_id(run.run_id) or started

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
