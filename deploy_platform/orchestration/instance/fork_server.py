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
to builds); the answer is the worker's pid and start time. The worker then goes
through Dagster's own command-line entry point, exactly as `python -m dagster api
execute_run <arg>` would. End of input (the launcher closed the socket) stops the
server; its running workers carry on to their runs' end.

The server stays single-threaded (forking a threaded process copies locks held by
other threads) and holds no connection to anything before a fork: no Dagster
instance, no Redis, no gRPC channel; each worker opens its own. It reaps its
workers on SIGCHLD; a worker restores the default handler at once, so its own
subprocesses (git, npm, the sandbox) are waited for by whoever started them.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import signal
import socket
import sys
from types import FrameType

__all__ = ["main", "serve"]


def _reap(_signum: int, _frame: FrameType | None) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _start_time(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return fields[19].decode()


def _work(control: socket.socket, argument: str, nice: int) -> None:
    """In the forked child: become the run worker; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        control.close()
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


def serve(control: socket.socket) -> int:
    """Answer fork requests on `control` until the launcher closes it."""
    signal.signal(signal.SIGCHLD, _reap)
    # Ctrl-C in `up`'s terminal reaches the whole process group: `up` stops the daemon,
    # whose closing the socket ends this server; no traceback here meanwhile.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = control.makefile("r", encoding="utf-8")
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _work(control, str(request["argument"]), int(request.get("nice", 0)))
        try:
            started = _start_time(pid)
        except OSError:
            started = ""  # it exited already; the launcher's health check will say so
        control.sendall((json.dumps({"pid": pid, "start": started}) + "\n").encode())
    return 0


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
