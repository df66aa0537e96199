"""The `Progress` an asset hands the build and publish code: each milestone goes to the
run's log and, as it happens, into the deployment record's `progress` in Redis, where
`GET /api/deployments/<id>` and `deploy-platform deploy` show it live.

A milestone that cannot be written (Redis restarting) is logged and dropped, and so are
those of the next `QUIET_SECONDS`: progress is for people watching, and a Redis outage
must not add a retried write (up to ~15 s, `RUN_RETRIES`) to every step of the build.
"""

from __future__ import annotations

import threading
import time

import dagster as dg

from deploy_platform.contracts.progress import Progress
from deploy_platform.contracts.records import Status
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["milestone_reporter", "QUIET_SECONDS"]

QUIET_SECONDS = 30.0


def milestone_reporter(
    context: dg.AssetExecutionContext, state: PlatformState, stage: Status
) -> Progress:
    deployment_id = context.partition_key
    # Publishing reports from its upload threads; one write at a time keeps them in order.
    lock = threading.Lock()
    failed_at: list[float] = []

    def report(step: str, detail: str) -> None:
        context.log.info(f"{stage.value}: {detail}")
        with lock:
            if failed_at and time.monotonic() - failed_at[-1] < QUIET_SECONDS:
                return
            try:
                state.add_milestone(deployment_id, stage, step, detail)
            except Exception as exc:  # noqa: BLE001 - never fatal, see the module
                failed_at.append(time.monotonic())
                context.log.warning(
                    f"could not record the milestone {detail!r} ({exc!r}); "
                    f"the next {QUIET_SECONDS:.0f} s of milestones go to this log only"
                )

    return report
