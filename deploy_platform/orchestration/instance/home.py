"""The DAGSTER_HOME that `deploy-platform up` runs the Dagster daemon and UI in.

`write_dagster_home` writes two files, on every start (they are derived, never
edited by hand):

dagster.yaml, tuned for the time from enqueue to live:
- The run queue (`LaunchOnSubmitCoordinator`, instance/coordinator.py: Dagster's
  QueuedRunCoordinator that launches a sensor's run at once when nothing else is
  queued and it fits the limits) with `max_concurrent_runs` (builds are CPU- and
  disk-heavy; the queue holds the rest) and, when `builds_per_project` is
  given, a `tag_concurrency_limits` entry on the `deploy/project` run tag with
  `applyLimitPerUniqueValue`: at most that many runs of any one project at a
  time, so a repository pushed to in a loop cannot take every build slot from
  the others (its runs wait in the queue, in order). Queued runs start the
  moment a run worker exits and frees a slot; the dequeue loop (every 5 s, the
  default) is the backstop, so an idle platform reads its run queue rarely.
  `dequeue_use_threads` launches several queued runs at once when a batch lands.
- `sensors.use_threads`: every sensor ticks on its own worker thread, so the
  queue sensor's long-poll (see sensors/queue_sensor.py) never delays the
  run-failure sensor, and `num_submit_workers` submits a batch of run requests
  in parallel. Schedules get threads too (none are defined yet; it is cheap).
- `WarmProcessRunLauncher` (instance/launcher.py): each run in its own process, forked
  from a server that has already imported dagster and the definitions; or,
  when `run_launcher` is given (DP_DAGSTER_RUN_LAUNCHER), that section as is,
  e.g. Docker's or Kubernetes' launcher for one build per container or pod.
- Run monitoring: a run stuck in STARTING (its worker never came up, e.g. the
  daemon was killed while launching it) or running longer than
  `max_runtime_seconds` is marked failed, and so is a run whose worker process
  is gone (the launcher records the worker's pid on the run, so this works
  even after the daemon that launched it was restarted).
- Run retries for crashes only: a run that failed because its worker died or
  never started is re-executed (up to twice), so the deployment still completes;
  `retry_on_asset_or_op_failure: false` means a deployment that failed for a
  reason (no index.html, clone failed) is reported, never silently repeated.
  The run-failure sensor leaves a run that will be retried alone.
- Sensor tick retention: the sensors tick thousands of times a day, mostly skipped
  ticks; keep a day of those so the tick table stays small.
- No auto-materialize and no freshness daemon: nothing here uses them.
- Telemetry off; storage is SQLite under DAGSTER_HOME (the default when no
  `storage` key is given) unless `postgres_url_env` names a variable holding a
  PostgreSQL URL (scale-out: several daemons, webservers and run workers share
  it; the file names the variable, so the password is never written to disk).

workspace.yaml: one code location, `deploy_platform.definitions`. Given
`code_server_port` (what `up` does), a `grpc_server` entry: the daemon and the
webserver both talk to the one long-lived code server `up` runs on 127.0.0.1 at
that port (`instance/code_server.py`), and neither spawns a code server of its
own; they reconnect by themselves when it is restarted. Reloading the code means
restarting `up`. Without a port, a `python_module` entry, loaded with this
interpreter and the project's directory on sys.path (so a checkout works without
being installed): each Dagster process that reads it then spawns, and renews, a
code server of its own, which suits a lone daemon or `dagster definitions
validate` in the tests.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from deploy_platform.orchestration.instance.code_server import (
    CODE_LOCATION,
    CODE_SERVER_HOST,
    DEFINITIONS_MODULE,
    project_root,
)

__all__ = [
    "write_dagster_home",
    "dagster_yaml",
    "workspace_yaml",
    "CODE_LOCATION",
    "PROJECT_RUN_TAG",
]

#: The run tag the per-project limit counts (`sensors.queue_sensor.run_tags` sets it).
PROJECT_RUN_TAG = "deploy/project"

_WARM_PROCESS_LAUNCHER = """\
run_launcher:
  # One process per run, forked from a server that imported dagster and the
  # definitions once (saves ~1.5 s per deployment; see orchestration/instance/launcher.py).
  module: deploy_platform.orchestration.instance.launcher
  class: WarmProcessRunLauncher
"""


_HEADER = """\
# Written by deploy-platform (orchestration/instance/home.py) on every start; edits are lost.
"""


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def dagster_yaml(
    *,
    max_concurrent_runs: int = 4,
    builds_per_project: int | None = None,
    postgres_url_env: str | None = None,
    run_launcher: Mapping[str, Any] | None = None,
) -> str:
    if max_concurrent_runs < 1:
        raise ValueError("max_concurrent_runs must be at least 1")
    if builds_per_project is not None and builds_per_project < 1:
        raise ValueError("builds_per_project must be at least 1")
    per_project = ""
    if builds_per_project is not None:
        per_project = f"""
    # At most {builds_per_project} build(s) of any one project at a time.
    tag_concurrency_limits:
      - key: {_q(PROJECT_RUN_TAG)}
        value:
          applyLimitPerUniqueValue: true
        limit: {builds_per_project}"""
    launcher = _WARM_PROCESS_LAUNCHER
    if run_launcher is not None:
        launcher = "# From DP_DAGSTER_RUN_LAUNCHER.\n" + yaml.safe_dump(
            {"run_launcher": dict(run_launcher)}, sort_keys=False
        )
    storage = ""
    if postgres_url_env:
        storage = f"""
storage:
  postgres:
    postgres_url:
      env: {_q(postgres_url_env)}
"""
    return f"""\
# Written by deploy-platform (orchestration/instance/home.py) on every start; edits are lost.
telemetry:
  enabled: false
nux:
  enabled: false

run_coordinator:
  # Dagster's run queue; a sensor's run starts at once when nothing else is queued
  # and it fits the limits (orchestration/instance/coordinator.py).
  module: deploy_platform.orchestration.instance.coordinator
  class: LaunchOnSubmitCoordinator
  config:
    max_concurrent_runs: {max_concurrent_runs}
    # Dagster's default. A queued run starts the moment a run worker exits (the
    # launcher hears it); this loop is the backstop (a run from the UI, a restart).
    dequeue_interval_seconds: 5
    dequeue_use_threads: true
    dequeue_num_workers: {max(2, max_concurrent_runs)}{per_project}

{launcher}
run_monitoring:
  enabled: true
  poll_interval_seconds: 10
  start_timeout_seconds: 120
  max_runtime_seconds: 3600

run_retries:
  # Only runs whose worker crashed; a failed asset is the user's error to fix.
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false

# No automation conditions and no freshness policies here: their daemons would
# only tick all day for nothing.
auto_materialize:
  enabled: false
  use_sensors: false
freshness:
  enabled: false

sensors:
  # One thread per sensor: the queue sensor's lanes long-poll Redis within their ticks.
  use_threads: true
  # Ten sensors, six of them (the queue lanes, the wait sensor) in ticks of ~45-65 s.
  num_workers: 16
  num_submit_workers: 4

schedules:
  use_threads: true
  num_workers: 2

retention:
  sensor:
    purge_after_days:
      skipped: 1
      failure: 30
      success: -1
{storage}"""


def workspace_yaml(code_server_port: int | None = None) -> str:
    """The code location: the code server on `code_server_port`, or, without one,
    a module each Dagster process that reads the file serves itself."""
    if code_server_port is not None:
        if not 0 < code_server_port < 65536:
            raise ValueError(f"code_server_port {code_server_port} is not a TCP port")
        return f"""\
{_HEADER}# The one code server `deploy-platform up` runs (instance/code_server.py).
load_from:
  - grpc_server:
      host: {_q(CODE_SERVER_HOST)}
      port: {code_server_port}
      location_name: {_q(CODE_LOCATION)}
"""
    return f"""\
{_HEADER}load_from:
  - python_module:
      module_name: {_q(DEFINITIONS_MODULE)}
      location_name: {_q(CODE_LOCATION)}
      working_directory: {_q(str(project_root()))}
      executable_path: {_q(sys.executable)}
"""


def write_dagster_home(
    dagster_home: Path,
    *,
    max_concurrent_runs: int = 4,
    builds_per_project: int | None = None,
    postgres_url_env: str | None = None,
    run_launcher: Mapping[str, Any] | None = None,
    code_server_port: int | None = None,
) -> None:
    """Create DAGSTER_HOME (persistent: it holds the deployment history) and its two files;
    `code_server_port` as for `workspace_yaml`."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    _write(
        dagster_home / "dagster.yaml",
        dagster_yaml(
            max_concurrent_runs=max_concurrent_runs,
            builds_per_project=builds_per_project,
            postgres_url_env=postgres_url_env,
            run_launcher=run_launcher,
        ),
    )
    _write(dagster_home / "workspace.yaml", workspace_yaml(code_server_port))


def _write(path: Path, text: str) -> None:
    # Written beside and renamed, so a daemon starting at the same moment never reads half a file.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
