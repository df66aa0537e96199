"""One git process, supervised: a deadline, a size watch, its whole process group killed.

git runs as a child we watch ourselves rather than through `subprocess.run`, so a
fetch can be stopped the moment the bytes it wrote pass the limit, not only when
it ends, and the helpers it starts (`git-remote-https`, `index-pack`) die with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

__all__ = ["Deadline", "Killed", "Result", "SizeWatch", "supervise"]

_STDERR_KEEP = 64 * 1024


@dataclass(frozen=True)
class Deadline:
    """When a sequence of git calls must be done, and the timeout it came from (for messages)."""

    at: float
    timeout: float

    @classmethod
    def after(cls, timeout: float) -> Deadline:
        return cls(time.monotonic() + timeout, timeout)


@dataclass(frozen=True)
class SizeWatch:
    """Kill the process once `measure()` passes `limit`; `subject` names what grew."""

    measure: Callable[[], int]
    limit: int
    subject: str = "download"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: str


class Killed(Exception):
    """The process was stopped: `reason` is "timeout" or "size"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def supervise(
    process: subprocess.Popen[bytes], deadline: Deadline, watch: SizeWatch | None
) -> Result:
    """Wait for `process`, reading its output; raise `Killed` past the deadline or the size."""
    stdout = bytearray()
    stderr = bytearray()

    def drain(stream: IO[bytes] | None, sink: bytearray, keep: int | None) -> None:
        assert stream is not None
        while chunk := stream.read(65536):
            sink.extend(chunk)
            if keep is not None and len(sink) > keep:
                del sink[: len(sink) - keep]

    readers = [
        threading.Thread(target=drain, args=(process.stdout, stdout, None), daemon=True),
        threading.Thread(target=drain, args=(process.stderr, stderr, _STDERR_KEEP), daemon=True),
    ]
    for reader in readers:
        reader.start()
    interval = 0.05
    reason: str | None = None
    try:
        while True:
            remaining = deadline.at - time.monotonic()
            if remaining <= 0:
                reason = "timeout"
                break
            try:
                process.wait(timeout=min(remaining, interval if watch else remaining))
                break
            except subprocess.TimeoutExpired:
                pass
            if watch is not None:
                started = time.monotonic()
                if watch.measure() > watch.limit:
                    reason = "size"
                    break
                # Walking a big tree costs time; never spend more than a fifth of it there.
                interval = max(0.05, 4 * (time.monotonic() - started))
    finally:
        if process.poll() is None:
            _kill_group(process)
        process.wait()
        for reader in readers:
            reader.join(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    if reason is not None:
        raise Killed(reason)
    return Result(process.returncode, bytes(stdout), stderr.decode("utf-8", "replace"))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        process.kill()
