"""Start a build's supervisor inside bubblewrap: its own mounts, uid, namespaces and network.

What the build sees (same paths as outside, so logs, caches and the toolchain
shims keep working):

- read-write: the work directory and the build's HOME (and nothing else of the
  state directory);
- read-only: /usr (with the /bin, /lib, /lib64, /sbin links or directories),
  /etc without the files that hold secrets (`HIDDEN_ETC`), the toolchain cache
  (Node versions, package managers), the CA files the registry settings name,
  and the Python that runs the supervisor;
- its own /proc (its own processes only), a minimal /dev, a private /tmp,
  /var/tmp and /dev/shm (tmpfs, each at most the build's memory limit);
- nothing else: no /root, /home, /work, /var, /run, /sys, no DAGSTER_HOME, no
  other project's directory, no host sockets.

Namespaces: mount, pid, ipc, uts, cgroup and network always. Who runs it:

- The platform is root: bwrap runs privileged (no user namespace) with a
  seccomp filter against new user namespaces (`seccomp`), and the
  supervisor, first process inside, drops to the build user (`isolation.
  BUILD_USER`) before anything of the build runs: it clears the capability
  bounding set, sets no_new_privs, drops supplementary groups and switches
  uid/gid for good. A user namespace is not used here because bwrap would map
  the build's uid to root outside, which owns the platform's files; a real
  unprivileged uid is the stronger boundary. The work directory and HOME are
  handed to that user before each step (`handover`); root still reads and
  removes them afterwards.
- Not root: bwrap makes a user namespace (`--unshare-user --disable-userns`);
  the build keeps the platform's uid but has no capabilities and sees only the
  mounts above.

The supervisor is pid 1 of the build's pid namespace (`--as-pid-1`): when it
exits the kernel kills whatever the build left, and `--die-with-parent` does
the same if the platform dies. Its code is passed with `python -I -S -c` so no
file of the platform's installation needs to be visible; the interpreter is the
platform's own, whose installation prefix is bound read-only when it is not
under /usr. It reports how the command ended on a pipe (bwrap's own exit status
cannot tell "killed by signal N" from "exited with 128+N") and closes every
other inherited descriptor, so the build starts with 0, 1 and 2 only.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.build import netns, seccomp
from deploy_platform.build.isolation import BuildUser

__all__ = ["Launched", "launch", "files_named_in", "HIDDEN_ETC"]

_SUPERVISOR_SOURCE = Path(__file__).with_name("_supervisor.py")

#: Files and directories of /etc a build has no business reading: host keys and
#: password hashes (root-only anyway, hidden in case of a loose mode), sudo rules,
#: and other services' configuration that may hold passwords.
HIDDEN_ETC = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/etc/security",
    "/etc/redis",
    "/etc/postgresql",
    "/etc/deploy-platform",
)
_TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_INFO_TIMEOUT_S = 30.0


@dataclass
class Launched:
    """A started sandbox: bwrap's process, the supervisor's host pid, how to get its status.

    `started` says the supervisor came up inside (bwrap's setup succeeded); until it
    is released (`launch` does that last) nothing of the build has run.
    """

    process: subprocess.Popen[bytes]
    supervisor_pid: int | None
    status_fd: int
    network: netns.Network | None
    started: bool = False

    def command_status(self) -> int | None:
        """The command's wait status as the supervisor reported it (None: it never did)."""
        data = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(self.status_fd, 64):
                data += chunk
        with contextlib.suppress(ValueError):
            return int(data.decode().strip())
        return None

    def close(self) -> None:
        if self.network is not None:
            self.network.stop()
            self.network = None
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1


def _supervisor_python() -> tuple[str, list[str]]:
    """The interpreter for the supervisor, and the bind that makes it visible."""
    python = os.path.realpath(sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    if python.startswith("/usr/") and prefix.startswith("/usr"):
        return python, []
    return python, ["--ro-bind", prefix, prefix]


@functools.cache
def _supervisor_code() -> str:
    return _SUPERVISOR_SOURCE.read_text()


def _base_mounts(tmp_bytes: int) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for path in _TOP_LEVEL:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--ro-bind", "/etc", "/etc"]
    for path in HIDDEN_ETC:
        if os.path.islink(path):
            continue
        if os.path.isdir(path):
            args += ["--tmpfs", path]
        elif os.path.exists(path):
            args += ["--ro-bind", "/dev/null", path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # Private scratch space where tools expect it (shared memory for browsers too).
    for scratch in ("/tmp", "/var/tmp", "/dev/shm"):
        args += ["--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", scratch]
    return args


def _parents(destinations: Sequence[Path]) -> list[str]:
    """Directories to create (0755) above the mount points: bwrap would make them 0700,
    which a root platform's build user could not pass through."""
    made: list[str] = []
    for destination in destinations:
        for parent in reversed(Path(destination).parents):
            text = str(parent)
            if text in ("/", "/tmp", "/usr", "/etc") or text in made:
                continue
            if text.startswith(("/usr/", "/etc/")):
                continue
            made.append(text)
    args: list[str] = []
    for text in made:
        args += ["--perms", "0755", "--dir", text]
    return args


def _resolv_conf_target() -> str:
    # A symlinked resolv.conf (systemd-resolved) is replaced where it points, since
    # the link itself lives in the read-only /etc.
    return os.path.realpath("/etc/resolv.conf")


def _bwrap_argv(
    bwrap: str,
    *,
    cwd: Path,
    writable: Sequence[Path],
    readable: Sequence[Path],
    user: BuildUser | None,
    network: bool,
    tmp_bytes: int,
    fds: dict[str, int],
) -> list[str]:
    argv = [bwrap]
    if user is None:
        argv += ["--unshare-all", "--unshare-user", "--disable-userns"]
    else:
        argv += [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            # Only what the supervisor needs to become the build user; it drops them.
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
            "--cap-add",
            "CAP_SETPCAP",
        ]
    if not network:
        # No network namespace could be given a network: share the machine's (said loudly).
        argv.append("--share-net")
    argv += ["--die-with-parent", "--new-session", "--as-pid-1", "--hostname", "build"]
    argv += _base_mounts(tmp_bytes)
    if "seccomp" in fds:
        argv += ["--add-seccomp-fd", str(fds["seccomp"])]
    if "resolv" in fds:
        argv += ["--perms", "0644", "--ro-bind-data", str(fds["resolv"]), _resolv_conf_target()]
    argv += _parents([*readable, *writable])
    for path in readable:
        argv += ["--ro-bind", str(path), str(path)]
    for path in writable:
        argv += ["--bind", str(path), str(path)]
    argv += ["--chdir", "/", "--info-fd", str(fds["info"])]
    return argv


#: Registry settings that name files the build must be able to read.
_FILE_ENV_NAMES = (
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "npm_config_cafile",
    "NPM_CONFIG_CAFILE",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
)


def files_named_in(env: Mapping[str, str]) -> list[Path]:
    """The CA files the registry settings in `env` name: the build must read them."""
    found = []
    for name in _FILE_ENV_NAMES:
        value = env.get(name, "")
        if value.startswith("/") and os.path.exists(value):
            found.append(Path(value))
    return found


def launch(
    argv: Sequence[str],
    *,
    bwrap: str,
    config: dict[str, object],
    cwd: Path,
    env: Mapping[str, str],
    writable: Sequence[Path],
    readable: Sequence[Path],
    user: BuildUser | None,
    network: bool,
    tmp_bytes: int,
    cgroup_procs: Sequence[str],
) -> Launched:
    """Start the supervisor running `argv` in the sandbox; the build runs once this returns.

    The supervisor comes up, says so on its status pipe and waits on a "go" pipe;
    meanwhile the platform moves it into the build's cgroup and attaches the
    network (slirp4netns must not touch the namespace while bwrap still sets up
    its loopback: under load bwrap then fails). Output goes to the returned
    process's stdout (bwrap's own errors included). When bwrap fails before the
    supervisor runs, `started` is False and nothing ran. Raises
    `netns.NetworkError` when the network cannot be set up (nothing ran either).
    """
    python, python_bind = _supervisor_python()
    info_r, info_w = os.pipe()
    go_r, go_w = os.pipe()
    status_r, status_w = os.pipe()
    fds = {"info": info_w}
    program = seccomp.filter_program() if user is not None else None
    if program is not None:
        fds["seccomp"] = _pipe_with(program)
    if network:
        fds["resolv"] = _pipe_with(f"nameserver {netns.SLIRP_DNS}\n".encode())
    config = {
        **config,
        "status_fd": status_w,
        "go_fd": go_r,
        "cwd": str(cwd),
        "run_as": [user.uid, user.gid] if user else None,
    }
    command = [
        *_bwrap_argv(
            bwrap,
            cwd=cwd,
            writable=writable,
            readable=[*readable, *([Path(python_bind[1])] if python_bind else [])],
            user=user,
            network=network,
            tmp_bytes=tmp_bytes,
            fds=fds,
        ),
        "--",
        python,
        "-I",
        "-S",
        "-c",
        _supervisor_code(),
        json.dumps(config),
        "--",
        *argv,
    ]
    child_ends = (*fds.values(), status_w, go_r)
    try:
        process = subprocess.Popen(
            command,
            cwd="/",
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=child_ends,
        )
    except BaseException:
        for fd in (*child_ends, info_r, go_w, status_r):
            os.close(fd)
        raise
    for fd in child_ends:
        os.close(fd)
    launched = Launched(process, None, status_r, None)
    try:
        launched.supervisor_pid = _read_child_pid(info_r)
        if launched.supervisor_pid is not None:
            for procs in cgroup_procs:
                # Before the build is released, so all it starts is counted.
                with open(procs, "w") as handle:
                    handle.write(str(launched.supervisor_pid))
            launched.started = _wait_started(status_r)
        if launched.started and launched.supervisor_pid is not None:
            if network:
                launched.network = netns.attach(launched.supervisor_pid, as_root=user is not None)
            os.write(go_w, b"1")
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        launched.close()
        raise
    finally:
        os.close(info_r)
        # Without "go" written, closing it makes a waiting supervisor exit at once.
        os.close(go_w)
    return launched


def _pipe_with(data: bytes) -> int:
    """A pipe's read end holding `data` (small: it must fit the pipe's buffer)."""
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    return read_end


def _wait_started(status_r: int) -> bool:
    """Whether the supervisor came up (it writes "started" first, then later the status)."""
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([status_r], [], [], _INFO_TIMEOUT_S)
        chunk = os.read(status_r, 1) if ready else b""
        if not chunk:
            return False
        data += chunk
    return data == b"started\n"


def _read_child_pid(info_r: int) -> int | None:
    """The sandbox's first process as the host sees it; None when bwrap failed to start it."""
    data = b""
    while True:
        ready, _, _ = select.select([info_r], [], [], _INFO_TIMEOUT_S)
        if not ready:
            return None
        chunk = os.read(info_r, 4096)
        if not chunk:
            return None
        data += chunk
        with contextlib.suppress(ValueError):
            pid = json.loads(data).get("child-pid")
            return int(pid) if pid else None
