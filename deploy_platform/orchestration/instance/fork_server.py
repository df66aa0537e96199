"""The run workers' fork server: imports dagster and the definitions once, forks a worker per run.

Every deployment runs in a process of its own (a build that crashes or leaks takes
nothing else with it), but starting an interpreter that imports dagster and the
definitions costs ~2.5 s of CPU. A warm standby hid that wait from one deployment at
a time; under a burst of fifty it was still fifty imports on two cores. This process
does the imports once and then `fork()`s: a worker is ready in milliseconds, shares
the imported code with the server (copy-on-write), and costs no import at all.

    python -m deploy_platform.orchestration.instance.fork_server <control-fd> [<module>...]

The launcher (instance/launcher.py) talks to it over a socket (`control-fd`, one JSON
object per line): a request names the run's `dagster api execute_run` argument and
whether to lower the worker's priority (checks and housekeeping runs yield the CPU
to builds); the answer is the worker's pid and start time. When a worker exits the
server says so (`{"exited": pid, "code": n}`): its build slot is free, and the
launcher starts the next queued run at once instead of at the queue's next loop.
A worker goes through Dagster's own command-line entry point, exactly as
`python -m dagster api execute_run <arg>` would. End of input (the launcher closed
the socket) stops the server; its running workers carry on to their runs' end.

The server stays single-threaded (forking a threaded process copies locks held by
other threads) and holds no connection to anything before a fork: no Dagster
instance, no Redis, no gRPC channel; each worker opens its own. It reaps its
workers on SIGCHLD; a worker restores the default handling at once, so its own
subprocesses (git, npm, the sandbox) are waited for by whoever started them.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import selectors
import signal
import socket
import sys

from deploy_platform.processes.proc import start_time

__all__ = ["main", "serve"]


def _reap() -> list[tuple[int, int]]:
    """The workers that exited since the last call, with their exit codes."""
    exited: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return exited
        if pid == 0:
            return exited
        exited.append((pid, os.waitstatus_to_exitcode(status)))


def _work(closing: list[int], argument: str, nice: int) -> None:
    """In the forked child: become the run worker; never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in closing:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        random.seed()  # the server's generator state is every worker's otherwise
        if nice:
            os.nice(nice)
        from dagster._cli import main as dagster_main

        sys.argv = ["dagster", "api", "execute_run", argument]
        try:
            dagster_main()  # type: ignore[no-untyped-call]
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # a worker must never return into the server's loop
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _send(control: socket.socket, message: dict[str, object]) -> None:
    control.sendall((json.dumps(message) + "\n").encode())


def serve(control: socket.socket) -> int:
    """Answer fork requests on `control` until the launcher closes it; say when a worker exits."""
    # SIGCHLD wakes the loop through a pipe (the handler itself does nothing): only the
    # loop writes to the socket, so an exit notice never lands inside an answer.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
    # Ctrl-C in `up`'s terminal reaches the whole process group: `up` stops the daemon,
    # whose closing the socket ends this server; no traceback here meanwhile.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    pending = b""
    while True:
        for key, _events in selector.select():
            if key.fileobj == wake_read:
                while True:
                    try:
                        if not os.read(wake_read, 512):
                            break
                    except BlockingIOError:
                        break
                for pid, code in _reap():
                    _send(control, {"exited": pid, "code": code})
                continue
            data = control.recv(65536)
            if not data:
                return 0  # end of input: the launcher is gone
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if not line.strip():
                    continue
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    closing = [control.fileno(), wake_read, wake_write, selector.fileno()]
                    _work(closing, str(request["argument"]), int(request.get("nice", 0)))
                # None: it exited already; the launcher's health check will say so.
                started = start_time(pid) or ""
                _send(control, {"pid": pid, "start": started})


def _import_what_a_run_imports() -> None:
    """Make and drop a Dagster instance on a throwaway home, and import the storage
    classes of the real one: a worker's first instance otherwise imports some 450
    modules (SQLAlchemy, alembic, the storages), ~1.7 s of every run. Nothing made here
    outlives this function: no connection, no thread (see the module docstring)."""
    import tempfile

    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    home = os.environ.get("DAGSTER_HOME")
    if home:
        ref = InstanceRef.from_dir(home)
        for data in (
            ref.storage_data,
            ref.run_storage_data,
            ref.event_storage_data,
            ref.schedule_storage_data,
            ref.compute_logs_data,
            ref.local_artifact_storage_data,
        ):
            if data is not None:
                importlib.import_module(data.module_name)
    with tempfile.TemporaryDirectory(prefix="dp-fork-server-") as scratch:
        open(os.path.join(scratch, "dagster.yaml"), "w").close()  # no "defaulting to" warning
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(scratch))
        instance.dispose()
    import dagster._core.execution.api  # noqa: F401
    import dagster._core.executor.in_process  # noqa: F401

    # The object store's S3 client (boto3), which the definitions import only when a
    # store is opened, so that the code server does without it over a local directory.
    if os.environ.get("DP_STORAGE_URL", "").startswith("s3:"):
        importlib.import_module("deploy_platform.storage.s3")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    control = socket.socket(fileno=int(args[0]))
    # What a run worker imports anyway, so that no fork pays for it.
    import dagster._cli  # noqa: F401
    import dagster._cli.api  # noqa: F401

    for module in args[1:]:
        importlib.import_module(module)
    _import_what_a_run_imports()
    return serve(control)


if __name__ == "__main__":
    raise SystemExit(main())
