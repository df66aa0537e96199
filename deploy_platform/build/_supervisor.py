"""The first process inside a build sandbox: limits itself, runs the build, leaves nothing behind.

Started by `sandbox.run` as `python -I -S _supervisor.py CONFIG_JSON -- ARGV...`
in a new session (so a new process group), with the build's clean environment;
inside bubblewrap (`bwrap.py`) as `python -I -S -c <this file> CONFIG_JSON -- ARGV...`,
as pid 1 of the build's pid namespace. It imports only the standard library,
because it runs before anything else and outside the project's virtualenv paths.

1. It closes every inherited file descriptor but 0, 1, 2 (and, inside bwrap,
   its status and "go" pipes, which the command does not inherit), so the
   build starts with nothing of the platform's open.
2. It asks the kernel to send it SIGTERM when its parent dies
   (PR_SET_PDEATHSIG), so a crashed run worker does not leave builds running.
3. It becomes a child subreaper (PR_SET_CHILD_SUBREAPER): every process the
   build orphans, including ones that called setsid() or double-forked to look
   like daemons, is re-parented to it instead of to init. So all of the build's
   processes stay its descendants and can be found by walking /proc.
4. It joins the build's cgroups when asked to (outside bwrap; inside, the
   platform moves it before it is released), then applies the rlimits, which
   every process it starts inherits.
5. With `run_as` (a root platform's sandbox) it gives up root for good before
   the build starts: no_new_privs, an empty capability bounding set, no
   supplementary groups, then the build user's gid and uid. Inside bwrap it
   then says "started" on its status pipe and waits for the platform's "go"
   (the build's cgroup and network are ready).
6. It forks and execs the build command, then waits. When the command exits,
   whatever it left running is killed. On SIGTERM (the wall-clock limit, or the
   platform dying), every descendant gets SIGTERM, and after the grace period
   all that remain are stopped and killed.
7. It writes the command's wait status to its status pipe (when it has one),
   then exits the way the command did: the same exit code, or the same signal.
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
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
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


def _close_inherited(keep: list[int]) -> None:
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        os.set_inheritable(fd, False)
        low = fd + 1
    os.closerange(low, 1 << 20)


def _wait_for_go(status_fd: int, go_fd: int) -> None:
    # The platform moves this process into the build's cgroup and attaches the
    # network meanwhile; nothing of the build may run before that is done.
    os.write(status_fd, b"started\n")
    if os.read(go_fd, 1) != b"1":
        os._exit(125)
    os.close(go_fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _clear_inheritable(libc: ctypes.CDLL) -> None:
    # bwrap leaves the capabilities it was asked to keep inheritable; the setuid
    # below clears permitted and effective, this clears the rest.
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    for half in data:
        half.inheritable = 0
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _drop_privileges(libc: ctypes.CDLL, uid: int, gid: int) -> None:
    # Every step must succeed: a build must never start with anything of root's.
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last_cap = int(handle.read())
    for cap in range(last_cap + 1):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"PR_CAPBSET_DROP {cap}")
    _clear_inheritable(libc)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise OSError("the build user's ids did not stick")


def _limit_self(config: dict[str, object]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if config["parent_pid"] is not None and os.getppid() != config["parent_pid"]:
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
    run_as = config.get("run_as")
    if run_as:
        assert isinstance(run_as, list)
        _drop_privileges(libc, int(run_as[0]), int(run_as[1]))


def _exec_command(argv: list[str], cwd: object) -> None:
    # Python ignores SIGPIPE and SIGXFSZ for itself; a build expects the defaults
    # (SIGXFSZ is how RLIMIT_FSIZE stops a process writing a too-large file).
    for signum in (*_WATCHED, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    if isinstance(cwd, str):
        # Here, not by bwrap: only the build user may enter the work directory.
        try:
            os.chdir(cwd)
        except OSError as exc:
            os.write(2, f"cannot enter the working directory {cwd}: {exc.strerror}\n".encode())
            os._exit(126)
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
    status_fd = config.get("status_fd")
    go_fd = config.get("go_fd")
    _close_inherited([fd for fd in (status_fd, go_fd) if isinstance(fd, int)])
    _limit_self(config)
    if isinstance(status_fd, int) and isinstance(go_fd, int):
        _wait_for_go(status_fd, go_fd)
    grace = float(config["grace_seconds"])
    # Handlers (not SIG_DFL) so the signals are always queued for sigwaitinfo; as pid 1
    # of a pid namespace, a signal without a handler would be dropped by the kernel.
    for signum in _WATCHED:
        signal.signal(signum, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    command_pid = os.fork()
    if command_pid == 0:
        _exec_command(argv, config.get("cwd"))
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
    final = status[0] if status else signal.SIGKILL.value
    if isinstance(status_fd, int):
        os.write(status_fd, f"{final}\n".encode())
    _exit_like(final)


if __name__ == "__main__":
    main(sys.argv[1:])
