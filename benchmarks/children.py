"""Servers the benchmarks start as child processes of this work tree."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from deploy_platform.processes.redis_server import RedisServer

__all__ = ["REPO", "process", "throwaway_redis"]

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def process(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` from the work tree, its output into `log`; terminate it on the way out."""
    with open(log, "wb") as out:
        child = subprocess.Popen(
            argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def throwaway_redis(root: Path, stack: ExitStack) -> RedisServer:
    """A Redis without persistence in `root`/redis, stopped when `stack` closes."""
    redis = RedisServer(root / "redis", persistent=False).start()
    stack.callback(redis.stop)
    return redis
