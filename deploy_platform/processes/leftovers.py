"""Processes an earlier `up` on the same state directory left running.

A `kill -9` of `up` is cleaned up by the warden (`warden.py`) within seconds; if the
warden was killed too, or the next `up` starts before it finished, the pid files in
`<state>/run/` still name them. Each one still running, and started no later than
its pid file was written (so not another process that took the pid since), has its
process group taken down before the new `up` starts anything: two Redis servers on
one append-only file, or two daemons on one DAGSTER_HOME, must never run.
"""

from __future__ import annotations

import os
from pathlib import Path

from deploy_platform.processes.proc import is_running, started_at, take_down_groups

__all__ = ["stop_leftovers"]

# /proc's start time is in clock ticks from a boot time given in whole seconds.
_CLOCK_SLACK = 2.0


def stop_leftovers(run_dir: Path, grace: float = 10.0) -> list[str]:
    """Take down what the pid files in `run_dir` name; returns those names."""
    groups: dict[int, str] = {}
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            pid = int(pid_file.read_text().split()[0])
            written = pid_file.stat().st_mtime
        except (OSError, ValueError, IndexError):
            pid_file.unlink(missing_ok=True)
            continue
        started = started_at(pid)
        if is_running(pid) and started is not None and started <= written + _CLOCK_SLACK:
            try:
                pgid = os.getpgid(pid)
            except ProcessLookupError:
                pgid = os.getpgrp()
            if pgid != os.getpgrp():  # never this `up`'s own group
                groups[pgid] = pid_file.stem
        pid_file.unlink(missing_ok=True)
    take_down_groups(groups, grace)
    return sorted(groups.values())
