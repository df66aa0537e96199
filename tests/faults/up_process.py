"""Looking at a real `deploy-platform up` from outside: its processes, Redis, uploads.

Everything here reads what a person on the machine could: /proc, the pid files
and secret files under the state directory, Redis with the password `up` wrote.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

import redis

from deploy_platform.cli.client import ApiClient
from tests.support.platform import RunningPlatform
from tests.support.waiting import eventually

__all__ = [
    "PRIVATE_REDIS_PREFIX",
    "descendants",
    "pid_files",
    "processes_of",
    "redis_of",
    "running",
    "site_archive",
    "upload",
    "wait_for_status",
    "zombies",
]

#: `up`'s default DP_REDIS_PREFIX (the tests set no naming configuration).
PRIVATE_REDIS_PREFIX = "dp:"


def _stat(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def running(pid: int) -> bool:
    """`pid` exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] != b"Z"


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def processes_of(state_dir: Path) -> dict[int, str]:
    """Running processes whose environment names this state directory: pid -> command."""
    marker = f"\0DP_STATE_DIR={state_dir}\0".encode()
    found: dict[int, str] = {}
    for pid in _all_pids():
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if marker not in b"\0" + environ.read():
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if running(pid):
            found[pid] = command.strip()
    return found


def pid_files(state_dir: Path) -> dict[str, int]:
    return {
        path.stem: int(path.read_text())
        for path in (state_dir / "run").glob("*.pid")
        if path.read_text().strip()
    }


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children...), zombies included."""
    children: dict[int, list[int]] = {}
    for other in _all_pids():
        fields = _stat(other)
        if fields is not None and len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(other)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def zombies(pids: list[int]) -> list[int]:
    return [pid for pid in pids if (fields := _stat(pid)) is not None and fields[0] == b"Z"]


def redis_of(state_dir: Path) -> redis.Redis[bytes]:
    """A client of `up`'s private Redis, by the URL it left for commands beside it."""
    url = (state_dir / "run" / "redis.url").read_text().strip()
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)


def site_archive(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload(platform: RunningPlatform, tmp: Path, project: str, files: dict[str, str]) -> str:
    """Enqueue an upload of `files` as the CLI would; returns the deployment id."""
    archive = tmp / f"{project}-{time.monotonic_ns()}.tar.gz"
    archive.write_bytes(site_archive(files))
    answer = ApiClient(platform.api_url, platform.token).deploy_archive(archive, project)
    return str(answer["id"])


def wait_for_status(platform: RunningPlatform, deployment_id: str, status: str) -> None:
    """Until the deployment is in `status`; a deployment that ends before fails at once."""

    def reached() -> bool:
        code, record = platform.api("GET", f"/api/deployments/{deployment_id}")
        assert code == 200, record
        assert record["status"] not in ("ready", "failed"), record
        return bool(record["status"] == status)

    eventually(reached, timeout=120, message=f"{deployment_id} {status}", retry_on=())
