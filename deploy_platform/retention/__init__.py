"""Retention: which deployments go, and removing them and their bodies safely (no dagster).

  policy.py     the rule (newest N per project and branch, younger than D days,
                what aliases need, nothing unfinished) as a pure decision
  inventory.py  what it looks at: Redis records, alias pointers, stored objects
  sweep.py      mark and sweep of unreferenced bodies, under the sweep fence that
                publishers respect (`storage/fence.py`: why both exist)
  collect.py    `collect_garbage`: the order of removal, dry runs, the report
  report.py     the report as plain lines (printed by `gc`, logged by the retention job)

`deploy_platform.orchestration.jobs.purge` is the Dagster side (partitions, runs);
`deploy-platform gc` (`cli/gc.py`) runs it all.
"""
