"""Run one install or build command as someone else's code: limited, watched, cleaned up.

What is enforced where
======================

Every build, on every machine:

- Environment: the command sees exactly the `env` the caller passes and nothing
  of the platform's own (no S3/R2 keys, Redis URL, API tokens, webhook
  secrets) but the registry-access settings in `NETWORK_ENV_NAMES` (CA bundle,
  proxies, registry URL), which the runner passes through. Callers build it
  from scratch with `base_env()`, `network_env()` and the project's configured
  build variables; never from `os.environ` whole. stdin is /dev/null.
- Process tree: the command runs under a small supervisor (`_supervisor.py`)
  in a new session and process group. The supervisor is a child subreaper, so
  processes that call setsid() or double-fork are still its descendants; when
  the command exits, or on the wall-clock limit, it kills all of them (SIGTERM,
  then after `kill_grace_seconds` SIGSTOP + SIGKILL), and the platform also
  kills the process group. If the platform process dies, the supervisor gets
  SIGTERM (PR_SET_PDEATHSIG) and cleans up the same way.
- Wall clock (`wall_seconds`, default 900 s): measured by the platform, which
  then stops the tree as above and reports `timed_out=True`.
- rlimits, per process, inherited by everything the build starts:
  RLIMIT_DATA = `memory_bytes` (heap and private writable mappings; RLIMIT_AS
  is not used because V8 and Go tools such as esbuild reserve far more address
  space than they use, and WebAssembly reserves ~10 GiB per memory, so an
  address-space cap breaks normal builds), RLIMIT_FSIZE = `max_file_bytes`
  (a larger write kills the writer with SIGXFSZ), RLIMIT_NOFILE =
  `max_open_files`, RLIMIT_CORE = 0 (no core dumps of secrets on disk).
  RLIMIT_NPROC counts every process of the user, not of the build, and the
  kernel ignores it for root; so it is only set when the platform does not run
  as root, as the user's current process and thread count plus `max_processes`.
- Output: stdout and stderr merged, streamed line by line, secrets redacted,
  long lines cut, the total capped at `log_bytes` while the pipe keeps being
  drained (see `logstream`).

Where the machine offers a writable cgroup hierarchy (root on a host or a
privileged container, or a delegated subtree; see `cgroups`):

- memory: `memory_bytes` for the whole build together (all processes); the
  kernel OOM-kills inside the build only, and the log says so.
- processes: at most `max_processes` in the build at once (`pids.max`), also
  when the platform runs as root.
- cleanup: every process in the build's cgroup is killed at the end, whatever
  it did to leave the process tree.

Behind the isolation boundary (`isolation`, `bwrap`, `netns`; docs/security.md),
wherever the machine has bubblewrap and slirp4netns:

- uid: a root platform's builds run as the system user `dp-build` without any
  capability; a non-root platform's in a user namespace.
- files: the work directory (`cwd`, `writable`) and HOME read-write, /usr, /etc
  (minus secrets), the toolchain and CA files read-only, a private /tmp;
  nothing else of the machine: no state directory, token, Redis URL, object
  directory, DAGSTER_HOME, other project, /root, /home.
- processes: its own pid namespace (it sees and signals only itself); the
  supervisor is its pid 1, so nothing survives the step.
- network: its own namespace online through slirp4netns, with the machine's
  loopback, own addresses and private, link-local and multicast ranges
  unreachable.
- descriptors: only 0, 1 and 2.

Without all of it the log's first line says what is missing and fork pull
requests are refused: without bwrap (or with `DP_BUILD_ISOLATION=off`) the
build runs as the platform's user with its files and network; without the
network part, with private files and user but the machine's network.
`DP_BUILD_ISOLATION=required` makes `run` refuse instead. Not enforced either
way: CPU share and disk space.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.build import bwrap, handover, isolation, netns
from deploy_platform.build.cgroups import BuildCgroup
from deploy_platform.build.logstream import LogStream

__all__ = [
    "Limits",
    "RunResult",
    "run",
    "base_env",
    "network_env",
    "NETWORK_ENV_NAMES",
    "SYSTEM_PATH",
]

_SUPERVISOR = Path(__file__).with_name("_supervisor.py")
_GiB = 1024 * 1024 * 1024

#: Directories after the toolchain's on a build's PATH (sh, tar, git, ...).
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


@dataclass(frozen=True)
class Limits:
    """What one command may use; the module docstring says how each is enforced."""

    wall_seconds: float = 900.0
    memory_bytes: int = 4 * _GiB
    max_processes: int = 512
    max_file_bytes: int = 2 * _GiB
    max_open_files: int = 8192
    log_bytes: int = 8 * 1024 * 1024
    max_line_bytes: int = 4096
    kill_grace_seconds: float = 5.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"sandbox limit {name} must be positive, got {value!r}")


@dataclass(frozen=True)
class RunResult:
    """How a command ended.

    `exit_code` is the command's exit status, `-N` when signal N killed it (as in
    `subprocess`), and None when the wall-clock limit stopped it (`timed_out`).
    `tail` holds the last lines of output, redacted; `truncated` says the log
    passed `log_bytes` and was cut.
    """

    exit_code: int | None
    timed_out: bool
    duration_s: float
    tail: str
    truncated: bool


#: How the machine reaches package registries: trusted CAs (a TLS-inspecting proxy),
#: proxies, the registry to use. The operator's settings, not credentials of the
#: platform; a build without them cannot install anything on such a network.
NETWORK_ENV_NAMES = (
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
    "npm_config_cafile",
    "NPM_CONFIG_CAFILE",
    # pip, for the Python generators (MkDocs, Sphinx, Pelican): index, mirrors, CA.
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
)


def network_env(
    source: Mapping[str, str], names: Sequence[str] = NETWORK_ENV_NAMES
) -> dict[str, str]:
    """The registry-access settings (`names`) found in `source`, to hand to a build."""
    return {name: source[name] for name in names if source.get(name)}


def base_env(home: Path, path_dirs: Sequence[Path]) -> dict[str, str]:
    """A clean environment for a build: the toolchain first on PATH, CI mode, no telemetry.

    Add the project's own build variables to the result; never start from `os.environ`.
    """
    return {
        "PATH": os.pathsep.join([*(str(p) for p in path_dirs), *SYSTEM_PATH]),
        "HOME": str(home),
        "CI": "1",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_UPDATE_NOTIFIER": "1",
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "DO_NOT_TRACK": "1",
        "NEXT_TELEMETRY_DISABLED": "1",
        "ASTRO_TELEMETRY_DISABLED": "1",
        "GATSBY_TELEMETRY_DISABLED": "1",
    }


def _user_task_count(uid: int) -> int:
    # RLIMIT_NPROC counts threads, not just processes, of the real user id.
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
    return count


def _rlimits(limits: Limits, uid: int) -> dict[str, int]:
    values = {
        "RLIMIT_DATA": limits.memory_bytes,
        "RLIMIT_FSIZE": limits.max_file_bytes,
        "RLIMIT_NOFILE": limits.max_open_files,
        "RLIMIT_CORE": 0,
    }
    if uid != 0:
        values["RLIMIT_NPROC"] = _user_task_count(uid) + limits.max_processes
    # An unprivileged process cannot raise a hard limit: never ask for more than it has.
    for name, value in values.items():
        _, hard = resource.getrlimit(getattr(resource, name))
        if hard != resource.RLIM_INFINITY:
            values[name] = min(value, hard)
    return values


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    limits: Limits,
    on_line: Callable[[str], object],
    secrets: Iterable[str] = (),
    use_cgroup: bool = True,
    writable: Sequence[Path] = (),
    readable: Sequence[Path] = (),
    isolation_status: isolation.Status | None = None,
) -> RunResult:
    """Run `argv` in `cwd` with exactly `env`, streaming redacted lines to `on_line`.

    Behind the isolation boundary (see `bwrap`) the command can write `cwd`,
    `writable` and its HOME (`env["HOME"]`), read `readable` (the toolchain),
    and nothing else of the machine's files. `isolation_status` defaults to
    `isolation.current()`; without the whole boundary a line in the log says so.
    Raises `isolation.IsolationUnavailable` under `DP_BUILD_ISOLATION=required`
    when the boundary cannot be had.

    `use_cgroup=False` skips the cgroup even where one could be made (the
    rlimits and the supervisor still apply); tests use it to check that path.
    """
    if not argv:
        raise ValueError("nothing to run: argv is empty")
    status = isolation.current() if isolation_status is None else isolation_status
    isolation.require(status)
    stream = LogStream(
        on_line, secrets, max_line_bytes=limits.max_line_bytes, log_bytes=limits.log_bytes
    )
    if not status.isolated:
        stream.note(f"[sandbox] {status.describe()}")
    user = isolation.ensure_build_user() if status.sandboxed and os.geteuid() == 0 else None
    cgroup = BuildCgroup.create(limits.memory_bytes, limits.max_processes) if use_cgroup else None
    config: dict[str, object] = {
        "parent_pid": os.getpid(),
        "cgroup_procs": cgroup.procs_files if cgroup else [],
        "rlimits": _rlimits(limits, user.uid if user else os.getuid()),
        "grace_seconds": limits.kill_grace_seconds,
    }
    home = env.get("HOME", "")
    places = handover.outermost([cwd, *writable, *([Path(home)] if home.startswith("/") else [])])
    started = time.monotonic()
    launched: bwrap.Launched | None = None
    try:
        if status.sandboxed:
            if user is not None:
                handover.hand_over(places, user)
            launch = functools.partial(
                bwrap.launch,
                argv,
                bwrap=isolation.probe().bwrap or "bwrap",
                config={**config, "parent_pid": None, "cgroup_procs": []},
                cwd=cwd,
                env=env,
                writable=places,
                readable=readable,
                user=user,
                network=status.network,
                tmp_bytes=limits.memory_bytes,
                cgroup_procs=cgroup.procs_files if cgroup else [],
            )
            launched = _start_isolated(launch, stream)
            if launched is None:
                if cgroup:
                    cgroup.remove()
                return _not_started(stream, started)
            process = launched.process
        else:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_SUPERVISOR), json.dumps(config), "--", *argv],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except BaseException:
        if cgroup:
            cgroup.remove()
        raise
    # The wall clock's SIGTERM goes to the supervisor, which forwards it to the build.
    supervisor_pid = launched.supervisor_pid if launched else process.pid
    try:
        timed_out = _pump(process, supervisor_pid, stream, limits, started)
        exit_code = _finish(process, cgroup)
        if launched is not None:
            wait_status = launched.command_status()
            # bwrap's own status is 1 when it failed before the supervisor ran.
            if wait_status is not None:
                exit_code = os.waitstatus_to_exitcode(wait_status)
    finally:
        if process.poll() is None:
            _kill_group(process.pid)
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
        if launched is not None:
            launched.close()
        if cgroup:
            cgroup.kill()
            cgroup.remove()
    stream.close()
    if timed_out:
        stream.note(
            f"[sandbox] stopped: the command ran longer than the {limits.wall_seconds:g} s "
            "wall-clock limit"
        )
    elif cgroup and cgroup.oom_killed():
        stream.note(
            f"[sandbox] a process was killed for using more than the "
            f"{limits.memory_bytes // (1024 * 1024)} MiB memory limit"
        )
    return RunResult(
        exit_code=None if timed_out else exit_code,
        timed_out=timed_out,
        duration_s=time.monotonic() - started,
        tail=stream.tail,
        truncated=stream.truncated,
    )


def _start_isolated(
    launch: Callable[[], bwrap.Launched], stream: LogStream
) -> bwrap.Launched | None:
    """Start the sandbox, once more when its setup failed before the build ran.

    bwrap's own setup can fail under load (a netlink answer it does not expect);
    nothing of the build has run then, so a second try is safe. None when the
    network could not be set up twice (said in the log).
    """
    for attempt in (1, 2):
        try:
            launched = launch()
        except netns.NetworkError as exc:
            stream.note(f"[sandbox] {exc}")
            if attempt == 2:
                return None
        else:
            if launched.started or attempt == 2:
                return launched
            said = launched.process.communicate()[0].decode(errors="replace").strip()
            launched.close()
            stream.note(f"[sandbox] the sandbox did not start ({said or 'no reason given'})")
        stream.note("[sandbox] trying once more")
    return None


def _not_started(stream: LogStream, started: float) -> RunResult:
    stream.close()
    return RunResult(
        exit_code=125,
        timed_out=False,
        duration_s=time.monotonic() - started,
        tail=stream.tail,
        truncated=stream.truncated,
    )


def _pump(
    process: subprocess.Popen[bytes],
    supervisor_pid: int | None,
    stream: LogStream,
    limits: Limits,
    started: float,
) -> bool:
    """Forward output until EOF; on the wall-clock limit stop the tree. True when it timed out."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    timed_out = False
    deadline = started + limits.wall_seconds
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        phase = "running"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if phase == "running":
                    timed_out = True
                    phase = "terminating"
                    # The supervisor forwards this to every descendant, then kills them.
                    if supervisor_pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(supervisor_pid, signal.SIGTERM)
                    deadline = time.monotonic() + limits.kill_grace_seconds + 2.0
                elif phase == "terminating":
                    phase = "killed"
                    _kill_group(process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    deadline = time.monotonic() + 2.0
                else:
                    # Something outside the tree still holds the pipe; stop reading.
                    return timed_out
                continue
            if not selector.select(remaining):
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                return timed_out
            stream.feed(chunk)


def _finish(process: subprocess.Popen[bytes], cgroup: BuildCgroup | None) -> int | None:
    # Wait without reaping first: while the supervisor is a zombie its pid (the
    # process group id) cannot be reused, so killing the group is still safe.
    with contextlib.suppress(ChildProcessError):
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    _kill_group(process.pid)
    if cgroup:
        cgroup.kill()
    return process.wait()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
