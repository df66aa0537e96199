"""Deployment history from Dagster's records: one row per deployment (see rows.py).

Dagster-free parts (`params`, `rows`, `moves`, and with pandas `query`, `report`) serve
the command and the control API's request checks; `collect`, `export`, `archive` and
`service` read the Dagster instance.
"""
