"""The Dagster instance `up` runs: DAGSTER_HOME and its dagster.yaml, the instance's storage,
the warm run launcher and its run worker, and purging a removed deployment's records.
"""
