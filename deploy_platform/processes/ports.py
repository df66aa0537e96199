"""Free loopback ports and waiting for a server to listen."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Collection
from pathlib import Path

__all__ = ["bindable", "free_port", "is_listening", "restartable_port", "wait_for_port"]

# Below the kernel's ephemeral range, so that no outgoing connection can take the
# port in the moment between a server dying and its restart.
_LOWEST_PORT = 20000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def restartable_port(avoid: Collection[int] = ()) -> int:
    """A free loopback port for a server that is restarted on the same port: below
    the kernel's ephemeral range when there is room there, never one of `avoid`
    (ports other servers are about to listen on)."""
    try:
        ephemeral_low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 0
    if ephemeral_low > _LOWEST_PORT + 1000:
        for _ in range(100):
            port = random.randrange(_LOWEST_PORT, ephemeral_low)
            if port not in avoid and bindable(port):
                return port
    while True:
        port = free_port()
        if port not in avoid:
            return port


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    """A server could listen on `port` now (a connection of an earlier one in
    TIME_WAIT does not count, as for servers that set SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listens on {host}:{port} after {timeout:.0f}s"
                ) from None
            time.sleep(0.05)


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
