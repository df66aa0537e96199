"""Children that never outlive the process that started them."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["die_with_parent", "new_group_dying_with_parent"]

_PR_SET_PDEATHSIG = 1


def new_group_dying_with_parent() -> None:  # pragma: no cover - runs in the child
    """`preexec_fn`: own process group (one signal reaches its descendants), and
    SIGTERM when the parent dies, so a killed `up` leaves no server behind holding
    its ports or data files. The signal reaches this child only, not what it
    started (a run worker in the middle of a build keeps going): `up`'s warden
    (`warden.py`) signals the whole group."""
    os.setsid()
    die_with_parent()


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to send this process SIGTERM when its parent dies (elsewhere: nothing).

    "Parent" is the thread that forked: a child started from a short-lived thread
    gets the signal when that thread ends, so start such children from the main
    thread (or one that lives as long as the process)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
