"""`commit_status_sensor`: posts the commit statuses whose retry is due.

Statuses are posted the moment they are written (by the control API and the
assets); this sensor only retries the ones GitHub did not take, each after its
backoff (see `deploy_platform.github.statuses`). It starts no runs. A tick stops
after `TICK_BUDGET_SECONDS` (a post can take its 10 s timeout when GitHub hangs),
well under the daemon's 60 s sensor evaluation timeout; what is left waits for
the next tick. With statuses off (no DP_GITHUB_TOKEN) a tick does nothing.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime
# to find the context and resource parameters.

import dagster as dg

from deploy_platform.orchestration.resources.commit_status import CommitStatusResource
from deploy_platform.orchestration.resources.redis_state import RedisResource

__all__ = ["commit_status_sensor", "TICK_BUDGET_SECONDS"]

TICK_BUDGET_SECONDS = 30.0
_PER_TICK = 100


@dg.sensor(
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retries posting GitHub commit statuses that failed (starts no runs).",
)
def commit_status_sensor(
    context: dg.SensorEvaluationContext, redis: RedisResource, commit_status: CommitStatusResource
) -> dg.SkipReason:
    statuses = commit_status.reporter(redis.state(), context.log)
    if statuses is None:
        return dg.SkipReason("commit statuses are off (DP_GITHUB_TOKEN is not set)")
    outcomes = statuses.retry_due(limit=_PER_TICK, budget_seconds=TICK_BUDGET_SECONDS)
    for outcome in outcomes:
        context.log.info(outcome)
    return dg.SkipReason(f"{len(outcomes)} commit status retries due" if outcomes else "none due")
