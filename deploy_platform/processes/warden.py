"""A small process that takes `up`'s children down when `up` dies, however it dies.

Every child of `up` gets SIGTERM from the kernel when `up` dies (the parent-death
signal, `lifetime.py`), but not the processes those children started: the Dagster
daemon's code server and run workers, the edge's workers. Each child leads a
process group of its own, so one signal to the group reaches them all; the warden
is told every group as it starts (`+<pgid>` on its stdin) and ends (`-<pgid>`).
When its stdin closes -- `up` exited or was killed with SIGKILL -- it SIGTERMs the
groups still listed, SIGKILLs what is left after a grace period, and exits. It
runs in a session of its own, so Ctrl-C in `up`'s terminal does not reach it.

    python -m deploy_platform.processes.warden [grace-seconds]
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping

from deploy_platform.processes.proc import take_down_groups

__all__ = ["Warden", "main"]

DEFAULT_GRACE = 10.0


class Warden:
    """`up`'s end of the pipe to the warden process."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start(cls, env: Mapping[str, str], grace: float = DEFAULT_GRACE) -> Warden:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploy_platform.processes.warden", str(grace)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,
        )
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def close(self, timeout: float = 5.0) -> None:
        """Closing its stdin ends the warden, after it took down what is still listed."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass  # still taking a stubborn group down; it exits by itself

    def _send(self, line: str) -> None:
        stdin = self.process.stdin
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(line.encode())
            stdin.flush()
        except BrokenPipeError:
            # The warden is gone (killed by hand): the parent-death signal remains.
            pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    grace = float(args[0]) if args else DEFAULT_GRACE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        text = line.decode().strip()
        if text[:1] in ("+", "-") and text[1:].isdigit():
            pgid = int(text[1:])
            if text[0] == "+":
                groups.add(pgid)
            else:
                groups.discard(pgid)
    take_down_groups(groups, grace)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
