"""Every deployment is one partition; its key is the deployment id."""

from __future__ import annotations

import dagster as dg

__all__ = ["DEPLOYMENTS", "deployments_partitions"]

DEPLOYMENTS = "deployments"

# Added by the queue sensor (`build_add_request`), so the UI lists each deployment
# as a partition of all three assets, with its runs, logs and metadata.
deployments_partitions = dg.DynamicPartitionsDefinition(name=DEPLOYMENTS)
