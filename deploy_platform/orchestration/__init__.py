"""Dagster's side of the platform: the shapes `definitions.py` assembles into the code location.

  assets/     the three partitioned assets of a deployment and their checks
  sensors/    the queue sensor, run-failure and recovery sensors, commit statuses
  resources/  Dagster resources wrapping the Dagster-free packages (store, Redis, git, build)
  jobs/       the deploy job and the daily retention job
  instance/   the Dagster instance `up` runs: DAGSTER_HOME, storage, the warm run launcher

Everything outside this package (and `history/`, which reads Dagster's records) is
Dagster-free; the assets here call into `source/`, `build/` and `publish/` through resources.
"""
