"""`commit_status_sensor`: posts the commit statuses whose retry is due.

Statuses are posted the moment they are written (by the control API and the
assets); this sensor only retries the ones GitHub did not take, each after its
backoff (see `deploy_platform.github.statuses`). It starts no runs. A tick stops
after `TICK_BUDGET_SECONDS` (a post can take its 10 s timeout when GitHub hangs),
well under the daemon's 60 s sensor evaluation timeout; what is left waits for
the next tick. A tick every `INTERVAL_SECONDS` is enough for retries measured in
backoffs of tens of seconds and more.

With statuses off (DP_GITHUB_TOKEN empty) a tick would do nothing, so the sensor
is built from the code server's environment when the code location loads
(`build_commit_status_sensor`, used by definitions.py): without a token its
default status is STOPPED and it costs no tick at all; `up` restarted with the
token loads the code location again, with the sensor running. (Started by hand in
the UI without a token, a tick still does nothing.)
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import os
from collections.abc import Mapping

import dagster as dg

from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.redis_state import RedisResource

__all__ = [
    "commit_status_sensor",
    "build_commit_status_sensor",
    "TICK_BUDGET_SECONDS",
    "INTERVAL_SECONDS",
]

TICK_BUDGET_SECONDS = 30.0
INTERVAL_SECONDS = 15
_PER_TICK = 100


def build_commit_status_sensor(env: Mapping[str, str] = os.environ) -> dg.SensorDefinition:
    """The sensor, running by default only when `env` has a DP_GITHUB_TOKEN."""
    on = bool(env.get("DP_GITHUB_TOKEN", "").strip())
    description = "Retries posting GitHub commit statuses that failed (starts no runs)."
    if not on:
        description += (
            " Stopped: DP_GITHUB_TOKEN was not set when the code location loaded; restart "
            "`deploy-platform up` with the token set to start it."
        )

    @dg.sensor(
        name="commit_status_sensor",
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED,
        description=description,
    )
    def commit_status_sensor(
        context: dg.SensorEvaluationContext,
        redis: RedisResource,
        commit_status: CommitStatusResource,
    ) -> dg.SkipReason:
        statuses = commit_status.reporter(redis.state(), context.log)
        if statuses is None:
            return dg.SkipReason("commit statuses are off (DP_GITHUB_TOKEN is not set)")
        outcomes = statuses.retry_due(limit=_PER_TICK, budget_seconds=TICK_BUDGET_SECONDS)
        for outcome in outcomes:
            context.log.info(outcome)
        return dg.SkipReason(
            f"{len(outcomes)} commit status retries due" if outcomes else "none due"
        )

    return commit_status_sensor


#: As built from this process's environment (definitions.py builds its own the same way).
commit_status_sensor = build_commit_status_sensor()
