"""Several edge-origin processes on one port, and the parent that keeps them running.

`python -m serve --workers N` (N > 1) makes this process a supervisor that
serves nothing itself. It forks N workers; each runs `serve.server` with its
own event loop, caches, store and Redis clients and its own pub/sub
subscription (`serve.invalidation`), so an alias move reaches every worker.
Every worker binds the same address with SO_REUSEPORT and the kernel spreads
new connections over the listening sockets by hash, which balances far better
than processes taking turns on one shared socket.

The parent
  - checks first that nobody else holds the port (a bind without SO_REUSEPORT),
    then keeps a bound, never listening, SO_REUSEPORT socket on it for as long as
    it runs: `--port 0` resolves to one port for all workers, and no other program
    can take the port while a worker restarts;
  - starts one worker and waits until it listens, so a bad configuration fails
    once, with the worker's message and exit code (2: configuration, 1: the
    address), before the others start;
  - restarts a worker that dies, after 0.5 s, 1 s, 2 s ... (at most 30 s; back to
    0.5 s after a minute of healthy running), and logs why it died;
  - on SIGTERM or SIGINT sends SIGTERM to every worker, which finish the
    requests in flight and close their clients, and SIGKILLs what is still
    running after `STOP_GRACE_SECONDS`.
Workers get SIGTERM if the parent dies (PR_SET_PDEATHSIG), so a killed parent
leaves nothing holding the port. Workers stay in the parent's process group:
a signal to the group (Ctrl-C, `deploy-platform up` stopping) reaches them all.

Connections already queued on a worker that crashes are reset by the kernel
(an SO_REUSEPORT socket's backlog dies with it); a graceful stop loses none.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from deploy_platform.processes.lifetime import die_with_parent
from serve.config import EdgeConfig, EdgeConfigError
from serve.server import run_event_loop, serve_until_stopped

__all__ = ["default_worker_count", "reserve_port", "run_workers", "STOP_GRACE_SECONDS"]

log = logging.getLogger("serve")

STOP_GRACE_SECONDS = 15.0
_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 30.0
_HEALTHY_SECONDS = 60.0
# Exit codes of a worker (and of `python -m serve`).
EXIT_CONFIG = 2
EXIT_ADDRESS = 1


def default_worker_count() -> int:
    """The CPUs this process may run on (respects taskset/cpuset, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """A bound (not listening) SO_REUSEPORT socket on host:port, and the port number.

    Raises OSError when another program holds the port, SO_REUSEPORT or not.
    """
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    # SECURITY/correctness: a bare SO_REUSEPORT bind would silently share the
    # port with any other process of this user that uses SO_REUSEPORT (another
    # edge-origin, say) and split the traffic with it. A plain bind refuses that.
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        chosen = probe.getsockname()[1]
    reservation = socket.socket(family, kind, proto)
    try:
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reservation.bind((address[0], chosen, *address[2:]))
    except BaseException:
        reservation.close()
        raise
    return reservation, int(chosen)


@dataclass
class _Worker:
    index: int
    pid: int = 0
    ready_fd: int = -1  # read end of the pipe the worker writes one byte to when it listens
    ready: bool = False
    started_at: float = 0.0
    failures: int = 0
    start_at: float = 0.0  # when to start it again (0: now)
    exits: int = 0  # how often it ended, for start-up bookkeeping


class _Supervisor:
    def __init__(
        self,
        count: int,
        child_main: Callable[[int, int], int],
        on_listening: Callable[[], None],
    ) -> None:
        self._workers = [_Worker(index) for index in range(1, count + 1)]
        self._child_main = child_main
        self._on_listening = on_listening
        self._stopping = False
        self._announced = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # -- signals ---------------------------------------------------------------------
    def install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        # A handler (not SIG_DFL, which ignores it) so that SIGCHLD writes to the
        # wake-up pipe and a dead worker is noticed at once.
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("%s: stopping the workers", signal.Signals(signum).name)
        self._stopping = True

    # -- running -----------------------------------------------------------------------
    def run(self) -> int:
        """Start the workers, keep them running until a signal; the process exit code."""
        try:
            first = self._workers[0]
            self._start(first)
            while not first.ready:
                self._wait(None)
                code = self._reap(at_start_up=True)
                if code is not None:
                    return code
                if self._stopping:
                    return 0
            for worker in self._workers[1:]:
                self._start(worker)
            while not self._stopping:
                self._announce_when_up()
                now = time.monotonic()
                for worker in self._workers:
                    if worker.pid == 0 and worker.start_at <= now:
                        self._start(worker)
                pending = [w.start_at for w in self._workers if w.pid == 0]
                self._wait(max(0.0, min(pending) - now) if pending else None)
                self._reap(at_start_up=False)
            return 0
        finally:
            self._stop_all()
            signal.set_wakeup_fd(-1)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _announce_when_up(self) -> None:
        # Once every worker listens, or has had its first try.
        if not self._announced and all(w.ready or w.exits for w in self._workers):
            self._announced = True
            self._on_listening()

    def _start(self, worker: _Worker) -> None:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; its coverage is the worker's behaviour
            code = 1
            try:
                os.close(ready_r)
                self._forget_parent_state()
                code = self._child_main(worker.index, ready_w)
            except BaseException:  # noqa: BLE001 - a child must never return into the parent's loop
                logging.getLogger("serve").exception("worker %d failed", worker.index)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(ready_w)
        os.set_blocking(ready_r, False)
        worker.pid, worker.ready_fd, worker.ready = pid, ready_r, False
        worker.started_at = time.monotonic()

    def _forget_parent_state(self) -> None:
        """In a new worker: default signal handling, none of the parent's descriptors."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        os.close(self._wake_r)
        os.close(self._wake_w)
        for other in self._workers:
            if other.ready_fd >= 0:
                os.close(other.ready_fd)

    def _wait(self, timeout: float | None) -> None:
        """Sleep until a signal, a worker's "ready" byte, or `timeout` seconds."""
        readers = [self._wake_r] + [w.ready_fd for w in self._workers if w.ready_fd >= 0]
        try:
            readable, _, _ = select.select(readers, [], [], timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries, but be safe
            return
        if self._wake_r in readable:
            _drain(self._wake_r)
        for worker in self._workers:
            if worker.ready_fd in readable:
                if os.read(worker.ready_fd, 1):
                    worker.ready = True
                self._close_ready(worker)

    def _reap(self, *, at_start_up: bool) -> int | None:
        """Collect dead workers and plan their restart; at start-up, the code to exit with."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == 0:
                return None
            worker = next((w for w in self._workers if w.pid == pid), None)
            if worker is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            dead_pid = worker.pid
            was_ready = worker.ready or _drain(worker.ready_fd)
            self._close_ready(worker)
            worker.pid, worker.ready = 0, False
            worker.exits += 1
            if self._stopping:
                continue
            if at_start_up and not was_ready:
                # The first worker could not start: the configuration or the
                # address is wrong, and every other worker would fail the same way.
                return code if code > 0 else EXIT_ADDRESS
            self._plan_restart(worker, dead_pid, code)

    def _plan_restart(self, worker: _Worker, pid: int, code: int) -> None:
        now = time.monotonic()
        if now - worker.started_at >= _HEALTHY_SECONDS:
            worker.failures = 0
        delay = min(_MAX_BACKOFF, _FIRST_BACKOFF * 2**worker.failures)
        worker.failures += 1
        worker.start_at = now + delay
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        log.warning(
            "edge worker %d (pid %d) %s; starting a new one in %.1fs",
            worker.index,
            pid,
            how,
            delay,
        )

    def _close_ready(self, worker: _Worker) -> None:
        if worker.ready_fd >= 0:
            os.close(worker.ready_fd)
            worker.ready_fd = -1

    def _stop_all(self) -> None:
        """SIGTERM every worker, SIGKILL those still running after the grace period."""
        live = {w.pid for w in self._workers if w.pid}
        for pid in live:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while live:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                live.discard(pid)
                continue
            if time.monotonic() >= deadline:
                for pid in live:
                    log.warning("edge worker pid %d did not stop in time; killing it", pid)
                    _signal(pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)
        for worker in self._workers:
            worker.pid = 0
            self._close_ready(worker)


def run_workers(
    config: EdgeConfig, host: str, port: int, *, count: int, access_log: bool = False
) -> int:
    """Serve with `count` worker processes until SIGINT/SIGTERM; the process exit code."""
    try:
        reservation, bound_port = reserve_port(host, port)
    except OSError as exc:
        print(f"python -m serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return EXIT_ADDRESS
    parent = os.getpid()

    def child_main(index: int, ready_fd: int) -> int:
        reservation.close()
        die_with_parent()
        if os.getppid() != parent:  # the parent died before prctl took effect
            return 0

        def ready(_host: str, _port: int) -> None:
            os.write(ready_fd, b"r")
            os.close(ready_fd)

        return _serve_worker(config, host, bound_port, access_log, ready)

    def on_listening() -> None:
        log.info(
            "edge-origin listening on http://%s:%d serving %s; %d worker processes",
            host,
            bound_port,
            config.describe(),
            count,
        )

    supervisor = _Supervisor(count, child_main, on_listening)
    supervisor.install_signals()
    try:
        return supervisor.run()
    finally:
        reservation.close()


def _serve_worker(
    config: EdgeConfig,
    host: str,
    port: int,
    access_log: bool,
    ready: Callable[[str, int], None],
) -> int:
    try:
        run_event_loop(
            serve_until_stopped(
                config, host, port, access_log=access_log, reuse_port=True, on_ready=ready
            )
        )
    except EdgeConfigError as exc:
        print(f"python -m serve: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"python -m serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return EXIT_ADDRESS
    return 0


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _drain(fd: int) -> bool:
    """Read what is waiting on a non-blocking pipe; True if there was anything."""
    if fd < 0:
        return False
    got = False
    while True:
        try:
            chunk = os.read(fd, 512)
        except BlockingIOError:
            return got
        except OSError as exc:  # pragma: no cover
            if exc.errno == errno.EBADF:
                return got
            raise
        if not chunk:
            return got
        got = True
