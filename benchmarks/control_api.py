"""`python -m deploy_platform.api` as a child process, the way `deploy-platform up` runs it.

  with api_process(state_dir, store_root, redis_url, "bench:", DP_GIT_ALLOW_HOSTS=...) as api:
      urllib.request.Request(api.url + "/api/health") ...   # Authorization: api.auth

The child gets the parent's environment minus every `DP_*` setting (the
machine's configuration cannot leak in), this work tree on PYTHONPATH, a fresh
API token, and the settings given. Its log goes to a file, read back on failure.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.children import REPO, process
from deploy_platform.processes.ports import free_port, wait_for_port

__all__ = ["ApiProcess", "api_process"]


@dataclass(frozen=True)
class ApiProcess:
    url: str
    token: str
    log: Path
    pid: int
    state_dir: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client_env(self) -> dict[str, str]:
        """An environment in which the `deploy-platform` CLI talks to this API."""
        env = {name: value for name, value in os.environ.items() if not name.startswith("DP_")}
        env.update(PYTHONPATH=str(REPO), DP_API_URL=self.url, DP_API_TOKEN=self.token)
        return env


@contextmanager
def api_process(
    state_dir: Path, store_root: Path, redis_url: str, redis_prefix: str, **settings: str
) -> Iterator[ApiProcess]:
    """Start the control API over the store and Redis on a free loopback port; stop it after."""
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    env = {name: value for name, value in os.environ.items() if not name.startswith("DP_")}
    env.update(
        PYTHONPATH=str(REPO),
        DP_STATE_DIR=str(state_dir),
        DP_STORAGE_URL=store_root.as_uri(),
        DP_REDIS_URL=redis_url,
        DP_REDIS_PREFIX=redis_prefix,
        DP_API_TOKEN=token,
        **settings,
    )
    port = free_port()
    log = state_dir / "api.log"
    argv = [sys.executable, "-m", "deploy_platform.api", "--host", "127.0.0.1"]
    with process([*argv, "--port", str(port)], log, env) as child:
        try:
            wait_for_port(port, timeout=60)
        except TimeoutError:
            raise RuntimeError(
                f"the control API did not start:\n{log.read_text(errors='replace')}"
            ) from None
        yield ApiProcess(f"http://127.0.0.1:{port}", token, log, child.pid, state_dir)
