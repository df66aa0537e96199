"""Start the whole platform (`deploy-platform up`) as a real process tree."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy_platform.processes.ports import free_port, wait_for_port
from tests.support.environment import child_env
from tests.support.waiting import until

__all__ = ["RunningPlatform", "start_platform"]


@dataclass
class RunningPlatform:
    state_dir: Path
    api_port: int
    edge_port: int
    ui_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    token: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def deploy(self, **body: Any) -> dict[str, Any]:
        status, answer = self.api("POST", "/api/deployments", body)
        assert status == 202, answer
        return dict(answer)

    def wait(self, deployment_id: str, timeout: float = 180) -> dict[str, Any]:

        def record() -> dict[str, Any]:
            status, answer = self.api("GET", f"/api/deployments/{deployment_id}")
            assert status == 200, answer
            return dict(answer)

        return until(
            record,
            lambda record: record["status"] in ("ready", "failed"),
            timeout=timeout,
            interval=0.1,
            message=lambda record: f"{deployment_id} still {record['status']}; log:\n{self.log()}",
        )

    def fetch(
        self, host: str, path: str = "/", headers: dict[str, str] | None = None, timeout: float = 10
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.edge_port}{path}")
        request.add_header("Host", host)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def cli(
        self, *argv: str, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`deploy-platform ARGV...` as a person beside this platform runs it."""
        return subprocess.run(
            [sys.executable, "-m", "deploy_platform.cli", *argv],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def pid(self, child: str) -> int:
        return int((self.state_dir / "run" / f"{child}.pid").read_text())

    def log(self, child: str | None = None) -> str:
        path = self.log_path if child is None else self.state_dir / "logs" / f"{child}.log"
        try:
            return path.read_text(errors="replace")[-20000:]
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def run_up(
    state_dir: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`deploy-platform up` to the end (for one that must not start), output captured."""
    ports = [str(free_port()) for _ in range(3)]
    command = [sys.executable, "-m", "deploy_platform.cli", "up", "--state-dir", str(state_dir)]
    for flag, port in zip(("--api-port", "--edge-port", "--ui-port"), ports, strict=True):
        command += [flag, port]
    return subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_platform(
    state_dir: Path,
    extra_env: dict[str, str] | None = None,
    args: list[str] | None = None,
    timeout: float = 120,
) -> RunningPlatform:
    """`deploy-platform up` on free ports with a private state dir; waits for API and UI."""
    env = child_env(**(extra_env or {}))
    api_port, edge_port, ui_port = free_port(), free_port(), free_port()
    log_path = state_dir / "up.log"
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child
    command = [
        sys.executable,
        "-m",
        "deploy_platform.cli",
        "up",
        "--state-dir",
        str(state_dir),
        "--api-port",
        str(api_port),
        "--edge-port",
        str(edge_port),
        "--ui-port",
        str(ui_port),
        *(args or []),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    log.close()
    platform = RunningPlatform(state_dir, api_port, edge_port, ui_port, process, log_path, env=env)
    try:
        wait_for_port(api_port, timeout=timeout)
        wait_for_port(edge_port, timeout=timeout)
        token_file = state_dir / "api-token"
        platform.token = env.get("DP_API_TOKEN") or token_file.read_text().strip()
        wait_for_port(ui_port, timeout=timeout)
    except BaseException:
        platform.stop()
        raise AssertionError(f"platform did not start; log:\n{platform.log()}") from None
    return platform
