"""The Redis that `deploy-platform up` starts, and supervises, when DP_REDIS_URL is not set.

All of it lives in `<state>/redis` (0700):

    password      generated once, 0600; clients get it in DP_REDIS_URL
    port          chosen once; kept while it stays free, so a Redis restarted by the
                  supervisor is at the URL every child already has
    redis.conf    rewritten at each `up`, 0600 (it holds the password); the only
                  argument of redis-server, so the password is not on its command line
    appendonlydir the append-only file: records, aliases and the queue survive a
                  `kill -9` of Redis and a restart of `up`
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import redis

from deploy_platform.processes.ports import bindable, restartable_port
from deploy_platform.processes.private_files import (
    make_private_dir,
    read_or_create_secret,
    write_private,
)
from deploy_platform.processes.redis_server import redis_config, redis_server_binary, redis_url

__all__ = ["PrivateRedis", "REDIS_URL_FILE", "private_redis_url"]

#: Under the state directory: the URL of the Redis `up` started, while it runs (0600:
#: it holds the password).
REDIS_URL_FILE = Path("run") / "redis.url"


@dataclass(frozen=True)
class PrivateRedis:
    data_dir: Path
    port: int
    password: str
    moved_from: int | None = None  # the port kept earlier, when it had been taken

    @classmethod
    def prepare(cls, data_dir: Path) -> PrivateRedis:
        """Password, port and configuration file in `data_dir`; starts nothing."""
        make_private_dir(data_dir)
        password = read_or_create_secret(data_dir / "password", lambda: secrets.token_hex(32))
        port, moved_from = _stable_port(data_dir / "port")
        server = cls(data_dir, port, password, moved_from)
        # logfile "": its output goes to the supervisor's logs/redis.log.
        text = redis_config(port=port, data_dir=data_dir, password=password, logfile="")
        write_private(server.config, text)
        return server

    @property
    def config(self) -> Path:
        return self.data_dir / "redis.conf"

    @property
    def url(self) -> str:
        return redis_url(self.port, self.password)

    def argv(self) -> list[str]:
        return [redis_server_binary(), str(self.config)]

    def ready(self) -> bool:
        """Answers PING with the password (not merely listening: it may still be
        loading its append-only file)."""
        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_timeout=2,
            socket_connect_timeout=1,
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


def private_redis_url(state_dir: Path) -> str | None:
    """The URL of the Redis a running `up` started for `state_dir`, if any."""
    try:
        return (state_dir / REDIS_URL_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def _stable_port(path: Path) -> tuple[int, int | None]:
    try:
        kept = int(path.read_text())
    except (FileNotFoundError, ValueError):
        kept = 0
    if kept and bindable(kept):
        return kept, None
    port = restartable_port()
    path.write_text(f"{port}\n")
    return port, kept or None
