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
    its ports or data files."""
    os.setsid()
    die_with_parent()


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to send this process SIGTERM when its parent dies (elsewhere: nothing)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
