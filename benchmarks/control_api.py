"""`python -m deploy_platform.api` as a child process, the way `deploy-platform up` runs it.

  with api_process(state_dir, DP_REDIS_URL=..., DP_STORAGE_URL=...) as api:
      urllib.request.Request(api.url + "/api/health") ...   # Authorization: api.auth

The child gets the parent's environment minus every `DP_*` setting (the
machine's configuration cannot leak in), this work tree on PYTHONPATH, a fresh
API token, and the settings given. Its log goes to a file, read back on failure.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.services.ports import free_port, wait_for_port

__all__ = ["ApiProcess", "api_process"]

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ApiProcess:
    url: str
    token: str
    log: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client_env(self) -> dict[str, str]:
        """An environment in which the `deploy-platform` CLI talks to this API."""
        env = {name: value for name, value in os.environ.items() if not name.startswith("DP_")}
        env.update(PYTHONPATH=str(REPO), DP_API_URL=self.url, DP_API_TOKEN=self.token)
        return env


@contextmanager
def api_process(state_dir: Path, **settings: str) -> Iterator[ApiProcess]:
    """Start the control API on a free loopback port; stop it on the way out."""
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    env = {name: value for name, value in os.environ.items() if not name.startswith("DP_")}
    env.update(PYTHONPATH=str(REPO), DP_STATE_DIR=str(state_dir), DP_API_TOKEN=token, **settings)
    port = free_port()
    log = state_dir / "api.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploy_platform.api", "--host", "127.0.0.1"]
            + ["--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        try:
            wait_for_port(port, timeout=60)
        except TimeoutError:
            raise RuntimeError(
                f"the control API did not start:\n{log.read_text(errors='replace')}"
            ) from None
        yield ApiProcess(f"http://127.0.0.1:{port}", token, log)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
