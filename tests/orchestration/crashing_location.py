"""A code location like `deploy_platform.definitions` whose build step kills its run worker once.

Used by test_daemon.py to show what happens when a run worker dies mid-run (as
under the OOM killer): Dagster notices, retries the run, and the deployment
completes. Only the build runner differs from the real definitions.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from deploy_platform import definitions as platform_definitions
from deploy_platform.contracts.progress import Progress, no_progress
from deploy_platform.orchestration.resources.build_runner import (
    BuildLog,
    BuildRequest,
    BuildResult,
    StaticBuildRunner,
)
from deploy_platform.storage import ObjectStore


class CrashOnceBuildRunner(StaticBuildRunner):
    """The first build ends its whole process; later builds run normally."""

    marker: str

    def build(
        self,
        source_dir: Path,
        log: BuildLog,
        request: BuildRequest | None = None,
        store: ObjectStore | None = None,
        progress: Progress = no_progress,
    ) -> BuildResult:
        marker = Path(self.marker)
        if not marker.exists():
            marker.write_text("crashed once")
            os._exit(137)
        return super().build(source_dir, log, request, store, progress)


# Only one Definitions object may live at module scope, hence the module import.
defs = dg.Definitions(
    assets=platform_definitions.defs.assets,
    asset_checks=platform_definitions.defs.asset_checks,
    jobs=platform_definitions.defs.jobs,
    sensors=platform_definitions.defs.sensors,
    executor=dg.in_process_executor,
    resources={
        **(platform_definitions.defs.resources or {}),
        "build_runner": CrashOnceBuildRunner(marker=dg.EnvVar("DP_TEST_CRASH_MARKER")),
    },
)
