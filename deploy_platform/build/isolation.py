"""Whether builds run behind the full trust boundary here, and as whom.

The boundary (see `bwrap` and `netns` for how, docs/security.md for why) needs:

- `bwrap` (Debian's `bubblewrap`) that can make namespaces on this kernel;
- as root: the dedicated system user `BUILD_USER`, made here with
  `useradd --system` when missing; not root: a user namespace (bwrap
  `--unshare-user`), where the build keeps the platform's uid but sees only
  its own files;
- `slirp4netns`, plus `nsenter` and `ip` to close the machine's addresses in
  the build's network namespace; not root, /dev/net/tun must also be usable by
  the platform's user (it is 0600 root on many machines).

`DP_BUILD_ISOLATION` chooses what happens when a part is missing:

- `auto` (default): isolate as far as the machine allows; anything less than
  the full boundary is said loudly at `up` and in every build's log, and pull
  requests from forks are refused (`fork_refusal`).
- `required`: a build that cannot have the full boundary fails, saying what to
  install.
- `off`: builds run as before this boundary existed (rlimits, cgroup,
  supervisor, clean environment; the platform's uid, files and network), said
  loudly; forks are refused.
"""

from __future__ import annotations

import enum
import functools
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "BUILD_USER",
    "INSTALL_HINT",
    "Mode",
    "Status",
    "BuildUser",
    "current",
    "mode_from_env",
    "ensure_build_user",
    "IsolationUnavailable",
]

#: The system user builds run as when the platform runs as root.
BUILD_USER = "dp-build"
INSTALL_HINT = "install bubblewrap and slirp4netns (apt-get install bubblewrap slirp4netns)"
SETTING = "DP_BUILD_ISOLATION"


class Mode(enum.Enum):
    AUTO = "auto"
    REQUIRED = "required"
    OFF = "off"


class IsolationUnavailable(RuntimeError):
    """`DP_BUILD_ISOLATION=required` and the machine cannot isolate builds."""


def mode_from_env(env: Mapping[str, str] | None = None) -> Mode:
    value = (os.environ if env is None else env).get(SETTING, "").strip().lower() or "auto"
    try:
        return Mode(value)
    except ValueError:
        raise ValueError(f"{SETTING} must be auto, required or off, not {value!r}") from None


@dataclass(frozen=True)
class BuildUser:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class Probe:
    """What the machine offers (found once per process; it does not change while running)."""

    bwrap: str | None
    namespaces_problem: str | None
    network_problem: str | None


@dataclass(frozen=True)
class Status:
    """How the next build runs: `sandboxed` (mounts, uid), `network` (own netns), why not."""

    mode: Mode
    sandboxed: bool
    network: bool
    problems: tuple[str, ...]

    @property
    def isolated(self) -> bool:
        """The whole boundary: what it takes to build strangers' code."""
        return self.sandboxed and self.network

    def describe(self) -> str:
        if self.isolated:
            who = f"user {BUILD_USER}" if os.geteuid() == 0 else "a user namespace"
            return (
                f"build isolation: on (bubblewrap, {who}, own network via slirp4netns "
                "without the machine's loopback or private addresses)"
            )
        if self.mode is Mode.OFF:
            what = f"OFF ({SETTING}=off)"
        elif self.sandboxed:
            what = "PARTIAL"
        else:
            what = "UNAVAILABLE"
        why = f" ({'; '.join(self.problems)})" if self.problems else ""
        reach = (
            "builds see only their own files, but share the machine's network (its loopback "
            "services, private and metadata addresses)"
            if self.sandboxed
            else "builds run with the platform's user, files and network"
        )
        return (
            f"WARNING: build isolation {what}{why}: {reach}. Pull requests from forks are "
            f"not built. {self.remedy()}."
        )

    def remedy(self) -> str:
        """What to do for the whole boundary."""
        if self.mode is Mode.OFF:
            return f"Unset {SETTING} to isolate builds (they need bubblewrap and slirp4netns)"
        if any("tun" in problem for problem in self.problems) and self.sandboxed:
            return (
                "For their own network, run the platform as root, or make /dev/net/tun "
                "usable by its user (slirp4netns needs it)"
            )
        if any("cannot make namespaces" in problem for problem in self.problems):
            return (
                "Allow user namespaces (sysctl user.max_user_namespaces; on Debian also "
                "kernel.unprivileged_userns_clone=1) or run the platform as root"
            )
        return f"To isolate builds, {INSTALL_HINT}"

    def fork_refusal(self) -> str | None:
        """Why a fork's pull request must not be built here, or None when it may."""
        if self.isolated:
            return None
        return (
            "builds are not isolated on this machine ("
            + ("; ".join(self.problems) or f"{SETTING}=off")
            + f"), so a fork's code would run with the platform's access. {self.remedy()}"
        )


def _run_quietly(argv: list[str]) -> str | None:
    """None when `argv` succeeds, else its last line of error output."""
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


@functools.cache
def probe() -> Probe:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Probe(None, "bwrap is not installed", None)
    root = os.geteuid() == 0
    namespaces = ["--unshare-all"] if not root else _ROOT_UNSHARE
    failure = _run_quietly(
        [bwrap, *namespaces, "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"]
    )
    namespaces_problem = f"bwrap cannot make namespaces here ({failure})" if failure else None
    missing = [tool for tool in ("slirp4netns", "nsenter", "ip") if shutil.which(tool) is None]
    network_problem: str | None = None
    if missing:
        network_problem = f"{', '.join(missing)} not installed"
    elif not os.path.exists("/dev/net/tun"):
        network_problem = "/dev/net/tun does not exist"
    elif not root and not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        # slirp4netns opens the tun device as the platform's user inside the sandbox's
        # user namespace; where it is root's alone, only a root platform gets a network.
        network_problem = "/dev/net/tun is not usable by the platform's user (run as root)"
    return Probe(bwrap, namespaces_problem, network_problem)


#: The namespaces a root platform's sandbox gets (no user namespace: the build
#: runs as the real unprivileged BUILD_USER instead; see `bwrap`).
_ROOT_UNSHARE = [
    "--unshare-ipc",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-uts",
    "--unshare-cgroup-try",
]


def current(env: Mapping[str, str] | None = None) -> Status:
    """The isolation the next build gets; reads `DP_BUILD_ISOLATION` each time."""
    mode = mode_from_env(env)
    if mode is Mode.OFF:
        return Status(mode, sandboxed=False, network=False, problems=())
    found = probe()
    problems: list[str] = []
    if found.bwrap is None or found.namespaces_problem:
        problems.append(found.namespaces_problem or "bwrap is not installed")
        sandboxed = False
    else:
        sandboxed = True
    if sandboxed and os.geteuid() == 0:
        try:
            ensure_build_user()
        except IsolationUnavailable as exc:
            problems.append(str(exc))
            sandboxed = False
    if found.network_problem:
        problems.append(f"no network namespace: {found.network_problem}")
    return Status(mode, sandboxed, sandboxed and not found.network_problem, tuple(problems))


def require(status: Status) -> None:
    """Raise `IsolationUnavailable` when the mode is `required` and the boundary is not whole."""
    if status.mode is Mode.REQUIRED and not status.isolated:
        raise IsolationUnavailable(
            f"{SETTING}=required, but builds cannot be isolated here: "
            f"{'; '.join(status.problems)}. {status.remedy()}, "
            "or set DP_BUILD_ISOLATION=auto to build without the full boundary."
        )


def ensure_build_user() -> BuildUser:
    """The build user, created as a system user without a home or shell when missing.

    Only as root. Two processes creating it at once is fine: the loser finds it made.
    """
    try:
        entry = pwd.getpwnam(BUILD_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(
            [
                useradd,
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                "deploy-platform builds",
                BUILD_USER,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        try:
            entry = pwd.getpwnam(BUILD_USER)
        except KeyError:
            raise IsolationUnavailable(
                f"cannot create the build user {BUILD_USER!r} (useradd failed); create it "
                f"with `useradd --system --user-group {BUILD_USER}`"
            ) from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise IsolationUnavailable(f"the build user {BUILD_USER!r} must not be root")
    return BuildUser(BUILD_USER, entry.pw_uid, entry.pw_gid)


def announce_for_up(env: Mapping[str, str]) -> str:
    """For `up`: make the build user (root), check the mode, and say how builds run."""
    status = current(env)
    require(status)
    if status.sandboxed and os.geteuid() == 0:
        ensure_build_user()
    return status.describe()
