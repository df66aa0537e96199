"""Who started a run: the queue sensor deploying an id, or a person re-materializing one.

It decides how `published_deployment` moves aliases:

  queued deploy   the queue sensor's run (its `run_tags` include `deploy/trigger`),
                  and every re-execution or retry of it (Dagster copies the
                  parent run's tags): goes live unless the alias shows a later
                  deployment (`move_alias_if_newer`);
  backfill        several partitions materialized together (`dagster/backfill`):
                  the same, since a batch names no single deployment to go back to;
  by hand         anything else: "Materialize" on one partition in the Dagster UI,
                  a run launched without the sensor's tags, `dg.materialize(...)`.
                  The person named this deployment, so it goes live even when it is
                  older (`point_alias`): a rollback from the UI. The record's
                  `trigger` becomes `ui-rematerialization` and the alias move log
                  names the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from deploy_platform.contracts.records import Trigger

# TRIGGER_TAG: set by the queue sensor on every run it requests (`tags.run_tags`);
# BACKFILL_TAG: Dagster's tag on the runs of a backfill.
from deploy_platform.contracts.tags import BACKFILL_TAG, TRIGGER_TAG
from deploy_platform.publish.alias_moves import MoveReason

__all__ = ["TRIGGER_TAG", "BACKFILL_TAG", "RunOrigin", "run_origin"]


@dataclass(frozen=True)
class RunOrigin:
    by_hand: bool
    #: Who moves the aliases, for the move log: `dagster:<run id>` or `dagster-ui:<run id>`.
    actor: str

    @property
    def reason(self) -> MoveReason:
        return MoveReason.UI_REMATERIALIZATION if self.by_hand else MoveReason.DEPLOY

    @property
    def trigger(self) -> Trigger | None:
        """What the record's `trigger` becomes (None: it stays as the API or webhook set it)."""
        return Trigger.UI_REMATERIALIZATION if self.by_hand else None


def run_origin(context: dg.AssetExecutionContext) -> RunOrigin:
    tags = context.run.tags
    by_hand = TRIGGER_TAG not in tags and BACKFILL_TAG not in tags
    return RunOrigin(
        by_hand=by_hand,
        actor=f"{'dagster-ui' if by_hand else 'dagster'}:{context.run_id}",
    )
