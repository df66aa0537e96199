"""Create the Dagster instance's storage once, before the processes that share it start.

`deploy-platform up` starts the control API, the Dagster code server, daemon and
webserver within seconds of each other, and each opens the instance. On a new
DAGSTER_HOME every one of them found no tables and created them, and two could
stamp SQLite's schema version at once: `alembic_version` then holds two rows and
every later open fails ("Version table 'alembic_version' has more than one head
present"), so no code location loads and nothing deploys. `up` runs this module
first (`python -m deploy_platform.orchestration.instance.storage`, in the children's environment:
the instance's PostgreSQL URL, if any, is one of its variables), so the others only
ever open storage that exists. A separate process keeps dagster out of `up`'s own
memory.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["prepare_storage", "main"]


def prepare_storage(env: Mapping[str, str], dagster_home: Path, timeout: float = 180) -> None:
    """Open the instance at `dagster_home` once; RuntimeError saying why if it cannot."""
    done = subprocess.run(
        [sys.executable, "-m", "deploy_platform.orchestration.instance.storage"],
        env={**env, "DAGSTER_HOME": str(dagster_home)},
        cwd=dagster_home,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"cannot create the Dagster storage in {dagster_home}: {last}")


def main() -> int:
    import dagster as dg

    # Constructing the instance creates the run, event log and schedule storages;
    # one read of each makes sure they answer.
    with dg.DagsterInstance.get() as instance:
        instance.get_run_records(limit=1)
        instance.get_dynamic_partitions("deployments")
        instance.all_instigator_state()
    return 0


if __name__ == "__main__":
    sys.exit(main())
