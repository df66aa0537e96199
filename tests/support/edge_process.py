"""`python -m serve` as a real child process, for tests that need the edge as users run it.

  with serve_process(store_root, redis_url, prefix, DP_EDGE_ALIAS_TTL_SECONDS="3600") as edge:
      http.client.HTTPConnection("127.0.0.1", edge.port) ...

The child gets the parent's environment minus every `DP_*` setting (so the
machine's configuration cannot leak in), this work tree on PYTHONPATH, and the
settings given. Its log goes to a file, read back on failure.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.environment import child_env
from tests.support.waiting import eventually

__all__ = ["EdgeProcess", "serve_process"]

REPO = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"edge-origin listening on http://([\d.]+):(\d+)")


@dataclass(frozen=True)
class EdgeProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve_process(
    store_root: Path, redis_url: str, redis_prefix: str, workers: int = 1, **settings: str
) -> Iterator[EdgeProcess]:
    """Start the edge on a free port over the store and Redis; kill it on the way out.

    One worker by default, so `process` is the process that answers (with more,
    it is their supervisor).
    """
    env = child_env(
        **{
            "PYTHONPATH": str(REPO),
            "DP_STORAGE_URL": store_root.as_uri(),
            "DP_REDIS_URL": redis_url,
            "DP_REDIS_PREFIX": redis_prefix,
            **settings,
        }
    )
    with tempfile.TemporaryDirectory(prefix="dp-edge-log-") as tmp:
        log = Path(tmp) / "edge.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "serve", "--host", "127.0.0.1", "--port", "0"),
                    *("--workers", str(workers)),
                ],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            yield EdgeProcess(process, _wait_for_port(process, log), log)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def _wait_for_port(process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> int:
    def started() -> str:
        return f"python -m serve did not start:\n{log.read_text(errors='replace')}"

    def listening() -> re.Match[str] | None:
        found = _LISTENING.search(log.read_text(errors="replace"))
        if not found and process.poll() is not None:
            raise RuntimeError(started())
        return found

    found = eventually(listening, timeout=timeout, message=started, retry_on=())
    return int(found.group(2))
