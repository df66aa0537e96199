"""What /proc says about a process or a process group (Linux; elsewhere: little)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "group_alive",
    "is_running",
    "signal_groups",
    "signal_zero",
    "start_time",
    "started_at",
    "stat_fields",
    "take_down_groups",
]


def stat_fields(pid: int) -> list[bytes] | None:
    """/proc/<pid>/stat's fields after the parenthesised command name (state first)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot, stat field 22): with the pid, it names
    one process even after the pid is reused."""
    fields = stat_fields(pid)
    # Field 22 of the whole line is the 20th after the command name.
    return fields[19].decode() if fields is not None and len(fields) > 19 else None


def signal_zero(pid: int) -> bool | None:
    """Whether `pid` names a process (a zombie too), asked with signal 0: True, one we may
    signal; None, another user's (it exists, we may not signal it); False, none."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return None
    return True


def is_running(pid: int) -> bool:
    """`pid` exists and is not a zombie (an exited process nobody has waited for yet)."""
    fields = stat_fields(pid)
    if fields is None:
        reachable = signal_zero(pid)
        # Without /proc a zombie cannot be told apart: then the signal decides.
        return reachable is None or (reachable and not Path("/proc").is_dir())
    return fields[0] != b"Z"


def group_alive(pgid: int) -> bool:
    """Some process of group `pgid` still runs (zombies do not count: their parent
    may be an init that reaps slowly, and they hold nothing)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    wanted = str(pgid).encode()
    for entry in proc.iterdir():
        if entry.name.isdigit():
            fields = stat_fields(int(entry.name))
            # After the state: ppid, pgrp.
            if fields is not None and len(fields) > 2 and fields[2] == wanted:
                if fields[0] != b"Z":
                    return True
    return False


def started_at(pid: int) -> float | None:
    """When `pid` started, in seconds since the epoch (to the clock tick), if known."""
    fields = stat_fields(pid)
    if fields is None or len(fields) <= 19:
        return None
    try:
        with open("/proc/stat", "rb") as stat:
            boot = next(int(line.split()[1]) for line in stat if line.startswith(b"btime "))
    except (OSError, StopIteration, ValueError):
        return None
    # Field 22 of the whole line is the 20th after the command name.
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def signal_groups(pgids: Iterable[int], sig: signal.Signals) -> None:
    for pgid in pgids:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def take_down_groups(pgids: Iterable[int], grace: float) -> None:
    """SIGTERM every group, SIGKILL whatever of them still runs after `grace` seconds."""
    groups = set(pgids)
    signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while groups and time.monotonic() < deadline:
        groups = {pgid for pgid in groups if group_alive(pgid)}
        if groups:
            time.sleep(0.1)
    signal_groups(groups, signal.SIGKILL)
