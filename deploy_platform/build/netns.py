"""A build's own network: the internet through slirp4netns, nothing of the machine.

The sandbox (bwrap `--unshare-net`) starts with only its own loopback. Before
the build is released, `attach` gives it a user-mode network stack:

- slirp4netns (Debian's `slirp4netns`) creates `tap0` inside the build's
  network namespace (10.0.2.100/24, default route via 10.0.2.2, DNS forwarder
  10.0.2.3) and turns the build's connections into ordinary sockets of the
  platform's host. `--disable-host-loopback` refuses 10.0.2.2, which slirp
  would otherwise map to the host's 127.0.0.1; `--enable-sandbox` and
  `--enable-seccomp` confine slirp4netns itself, since it parses the build's
  packets.
- Because slirp's sockets are the host's, every address the host can reach is
  reachable unless the namespace's own routing table says otherwise. So
  `unreachable` routes are added for the private, link-local (cloud metadata),
  shared, multicast and "this network" ranges (`BLOCKED_NETWORKS`), and for
  each address of the machine's own interfaces and its gateways (a service
  bound to 0.0.0.0 answers on those). slirp's own 10.0.2.0/24 stays reachable
  through its more specific connected route: the DNS forwarder must be. The
  routes are added as root from outside (nsenter + ip); the build has no
  capabilities in that namespace, so it cannot remove them.
- IPv6 is not enabled (slirp4netns' default): the build has no IPv6 route at all.

Public addresses, documentation ranges included, stay reachable: a package
registry (or a mirror) may live in any of them, and on this kind of network the
npm registry itself resolves to one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import socket
import struct
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BLOCKED_NETWORKS", "SLIRP_DNS", "Network", "attach", "machine_addresses"]

#: What a build must not reach even though slirp could route it.
BLOCKED_NETWORKS = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
)

#: slirp4netns' DNS forwarder, the only resolver a build talks to.
SLIRP_DNS = "10.0.2.3"
_READY_TIMEOUT_S = 10.0


def machine_addresses() -> set[str]:
    """The IPv4 addresses of this machine's interfaces and its gateways (no subprocess)."""
    found: set[str] = set()
    # fib_trie lists every local address as "|-- A.B.C.D" followed by "/32 host LOCAL".
    with contextlib.suppress(OSError):
        previous = ""
        for line in Path("/proc/net/fib_trie").read_text().splitlines():
            text = line.strip()
            if text.startswith("/32 host LOCAL") and previous:
                found.add(previous)
            previous = text[4:] if text.startswith(("|-- ", "+-- ")) else ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[2] != "00000000":
                found.add(socket.inet_ntoa(struct.pack("<I", int(fields[2], 16))))
    return {a for a in found if not ipaddress.ip_address(a).is_loopback}


def _route_commands() -> str:
    lines = [f"route add unreachable {net}" for net in BLOCKED_NETWORKS]
    blocked = [ipaddress.ip_network(net) for net in BLOCKED_NETWORKS]
    for address in sorted(machine_addresses()):
        if not any(ipaddress.ip_address(address) in net for net in blocked):
            lines.append(f"route add unreachable {address}/32")
    return "\n".join(lines) + "\n"


@dataclass
class Network:
    """A running slirp4netns for one build; `stop` ends it (idempotent)."""

    process: subprocess.Popen[bytes]
    exit_fd: int

    def stop(self) -> None:
        if self.exit_fd >= 0:
            # slirp4netns also exits by itself when this pipe closes (the platform died).
            os.close(self.exit_fd)
            self.exit_fd = -1
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            # Its exit waits for the kernel to tear the tap device down (an RCU grace
            # period, tens of ms); the build's result need not wait for that.
            threading.Thread(target=self.process.wait, daemon=True).start()


class NetworkError(RuntimeError):
    """The build's network could not be set up; the message says why."""


def attach(child_pid: int, *, as_root: bool) -> Network:
    """Give the network namespace of `child_pid` (blocked, not yet running) its network.

    As root slirp4netns joins the namespace directly; otherwise it enters the
    sandbox's user namespace first (`--userns-path`), which needs /dev/net/tun
    to be usable by the platform's user.
    """
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    argv = [
        "slirp4netns",
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        "--enable-sandbox",
        "--enable-seccomp",
        f"--ready-fd={ready_w}",
        f"--exit-fd={exit_r}",
    ]
    if not as_root:
        argv.append(f"--userns-path=/proc/{child_pid}/ns/user")
    argv += [str(child_pid), "tap0"]
    try:
        process = subprocess.Popen(
            argv,
            pass_fds=(ready_w, exit_r),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        for fd in (ready_r, ready_w, exit_r, exit_w):
            os.close(fd)
        raise NetworkError(f"cannot start slirp4netns: {exc}") from None
    os.close(ready_w)
    os.close(exit_r)
    network = Network(process, exit_w)
    try:
        _wait_ready(ready_r, process)
        _block_machine_networks(child_pid, as_root)
    except BaseException:
        network.stop()
        raise
    finally:
        os.close(ready_r)
        if process.stderr:
            process.stderr.close()
    return network


def _wait_ready(ready_r: int, process: subprocess.Popen[bytes]) -> None:
    readable, _, _ = select.select([ready_r], [], [], _READY_TIMEOUT_S)
    if readable and os.read(ready_r, 1) == b"1":
        return
    process.kill()
    _, err = process.communicate()
    reason = err.decode(errors="replace").strip().splitlines()[-1:] or ["no answer"]
    raise NetworkError(f"slirp4netns did not start the build's network: {reason[0]}")


def _block_machine_networks(child_pid: int, as_root: bool) -> None:
    # Not root: the platform's user owns the sandbox's user namespace, and entering
    # it gives the capabilities over its network namespace that `ip` needs.
    enter_user = [] if as_root else [f"--user=/proc/{child_pid}/ns/user", "--preserve-credentials"]
    done = subprocess.run(
        ["nsenter", *enter_user, f"--net=/proc/{child_pid}/ns/net", "ip", "-batch", "-"],
        input=_route_commands().encode(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=10,
    )
    if done.returncode != 0:
        raise NetworkError(
            "cannot block the machine's own and private addresses in the build's network: "
            + done.stderr.decode(errors="replace").strip()
        )
