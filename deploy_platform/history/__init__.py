"""Deployment history from Dagster's records: one row per deployment (see rows.py).

Dagster-free parts (`rows`, `query`, `report`) are imported by the CLI as well;
`collect`, `export`, `archive` and `service` read the Dagster instance.
"""
