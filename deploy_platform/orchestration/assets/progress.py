"""The `Progress` an asset hands the build and publish code: each milestone goes to the
run's log and, as it happens, into the deployment record's `progress` in Redis, where
`GET /api/deployments/<id>` and `deploy-platform deploy` show it live.

A milestone that cannot be written (Redis restarting) is logged and dropped: progress is
for people watching, and never fails or slows a build by more than one retried write.
"""

from __future__ import annotations

import threading

import dagster as dg

from deploy_platform.contracts.progress import Progress
from deploy_platform.contracts.records import Status
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["milestone_reporter"]


def milestone_reporter(
    context: dg.AssetExecutionContext, state: PlatformState, stage: Status
) -> Progress:
    deployment_id = context.partition_key
    # Publishing reports from its upload threads; one write at a time keeps them in order.
    lock = threading.Lock()

    def report(step: str, detail: str) -> None:
        context.log.info(f"{stage.value}: {detail}")
        with lock:
            try:
                state.add_milestone(deployment_id, stage, step, detail)
            except Exception as exc:  # noqa: BLE001 - never fatal, see the module
                context.log.warning(f"could not record the milestone {detail!r}: {exc!r}")

    return report
