"""The first process inside a build sandbox: limits itself, runs the build, leaves nothing behind.

Started by `sandbox.run` as `python -I -S _supervisor.py CONFIG_JSON -- ARGV...`
in a new session (so a new process group), with the build's clean environment.
It imports only the standard library, because it runs before anything else and
outside the project's virtualenv paths.

1. It asks the kernel to send it SIGTERM when the platform process dies
   (PR_SET_PDEATHSIG), so a crashed run worker does not leave builds running.
2. It becomes a child subreaper (PR_SET_CHILD_SUBREAPER): every process the
   build orphans, including ones that called setsid() or double-forked to look
   like daemons, is re-parented to it instead of to init. So all of the build's
   processes stay its descendants and can be found by walking /proc.
3. It joins the build's cgroups when the platform made some, then applies the
   rlimits, which every process it starts inherits.
4. It forks and execs the build command, then waits. When the command exits,
   whatever it left running is killed. On SIGTERM (the wall-clock limit, or the
   platform dying), every descendant gets SIGTERM, and after the grace period
   all that remain are stopped and killed.
5. It exits the way the command did: the same exit code, or the same signal.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time

__all__ = ["main"]

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
_WATCHED = _STOP_SIGNALS | {signal.SIGCHLD}


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] == b"Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _descendants() -> list[int]:
    children = _children_map()
    found: list[int] = []
    stack = [os.getpid()]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _reap(command_pid: int, status: list[int]) -> None:
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == command_pid:
            status.append(wait_status)


def _kill_everything(command_pid: int, status: list[int]) -> None:
    # Stop first so nothing can fork a replacement between the listing and the kill.
    for _ in range(200):
        pids = _descendants()
        if not pids:
            return
        _signal_all(pids, signal.SIGSTOP)
        _signal_all(pids, signal.SIGKILL)
        time.sleep(0.01)
        _reap(command_pid, status)


def _exit_like(wait_status: int) -> None:
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.waitstatus_to_exitcode(wait_status))


def _limit_self(config: dict[str, object]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != config["parent_pid"]:
        # The platform died before the death signal was armed.
        os._exit(125)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    procs_files = config["cgroup_procs"]
    assert isinstance(procs_files, list)
    for procs in procs_files:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    rlimits = config["rlimits"]
    assert isinstance(rlimits, dict)
    for name, value in rlimits.items():
        limit = getattr(resource, name)
        resource.setrlimit(limit, (value, value))


def _exec_command(argv: list[str]) -> None:
    # Python ignores SIGPIPE and SIGXFSZ for itself; a build expects the defaults
    # (SIGXFSZ is how RLIMIT_FSIZE stops a process writing a too-large file).
    for signum in (*_WATCHED, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"cannot run {argv[0]!r}: {exc.strerror}\n".encode())
    os._exit(127)


def main(args: list[str]) -> None:
    config = json.loads(args[0])
    if args[1:2] != ["--"] or len(args) < 3:
        os.write(2, b"usage: _supervisor.py CONFIG -- ARGV...\n")
        os._exit(2)
    argv = args[2:]
    _limit_self(config)
    grace = float(config["grace_seconds"])
    # A handler (not SIG_DFL) so SIGCHLD is always queued for sigwaitinfo.
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    command_pid = os.fork()
    if command_pid == 0:
        _exec_command(argv)
    status: list[int] = []
    while not status:
        info = signal.sigwaitinfo(_WATCHED)
        if info.si_signo in _STOP_SIGNALS:
            _signal_all(_descendants(), signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _descendants():
                signal.sigtimedwait({signal.SIGCHLD}, 0.05)
                _reap(command_pid, status)
            break
        _reap(command_pid, status)
    # The command is over (or being stopped): nothing it started may outlive it.
    _kill_everything(command_pid, status)
    _reap(command_pid, status)
    # No status means the command vanished in the kill above: report SIGKILL.
    _exit_like(status[0] if status else signal.SIGKILL.value)


if __name__ == "__main__":
    main(sys.argv[1:])
