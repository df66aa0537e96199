"""What a queued deployment waits for, as `GET /api/deployments/<id>` says it.

Once the queue sensor has requested its run, the sensors keep the record's `waiting`
up to date (orchestration/sensors/wait_sensor.py: the run queue, a build slot n of m,
the run's worker starting). Before that only the absence of a sensor says anything:
the Dagster daemon is starting or loading the code location (the first minute or so
after `deploy-platform up` on a small machine), or it is not running. The queue
sensor notes each tick in Redis (`PlatformState.note_queue_tick`, forgotten by `up`
before it starts the daemon); without a recent one, that is what the deployment
waits for, whatever an older note says.
"""

from __future__ import annotations

from deploy_platform.contracts.records import DeploymentRecord, Status

__all__ = ["QUIET_SECONDS", "queued_waiting"]

# A queue-sensor lane notes its tick when it starts and every <= 10 s while it long-polls
# (sensors/queue_sensor.py); several missed notes mean no daemon is running it.
QUIET_SECONDS = 30.0


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def queued_waiting(record: DeploymentRecord, last_tick: float | None, now: float) -> str | None:
    """The sentence for the record's `waiting`; None once it is no longer queued."""
    if record.status is not Status.QUEUED:
        return None
    if last_tick is None:
        return (
            "waiting for the Dagster daemon to start and load the code location "
            "(its queue sensor has not run yet)"
        )
    quiet = now - last_tick
    if quiet > QUIET_SECONDS:
        return (
            f"waiting for the Dagster daemon: its queue sensor last ran {_ago(quiet)} ago "
            "(the daemon is starting, or stopped: see its log, logs/daemon.log under "
            "the state directory of `deploy-platform up`)"
        )
    return record.waiting or "waiting for the queue sensor to pick it up"
