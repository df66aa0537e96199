"""The control API's scratch directories under `<state>/tmp`: removed on every path,
and what a killed process left behind removed at the next start.

Each request that needs disk space (an upload being received and checked) gets
`<state>/tmp/api-<pid>-<random>/`, holding an exclusive `flock` on its `.lock`
file for as long as it is in use. The request removes it when it ends, however
it ends (answered, refused, failed, or the client went away). A process killed
with `kill -9` cannot; its lock dies with it, so `sweep` -- run when the API
starts -- removes every `api-*` directory whose lock it can take. A directory
whose lock is held belongs to a live API process (another one sharing the state
directory) and is left alone; so is anything not named `api-*` (the pipeline's
and other tools' scratch).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from deploy_platform.api.keys import SETTINGS, blocking

__all__ = [
    "PREFIX",
    "ScratchDir",
    "make_scratch",
    "scratch_dir",
    "scratch_root",
    "scratch_sweep_ctx",
    "sweep",
]

log = logging.getLogger("deploy_platform.api")

PREFIX = "api-"
_LOCK = ".lock"
# A directory made but not yet locked (between mkdir and flock) is this young at most.
_UNLOCKED_GRACE_SECONDS = 60.0


@dataclass
class ScratchDir:
    """A scratch directory and the open, locked file that says it is in use."""

    path: Path
    _lock_fd: int

    def remove(self) -> None:
        """Remove the directory, then let go of its lock (blocking: run it off the loop)."""
        try:
            shutil.rmtree(self.path, ignore_errors=True)
        finally:
            os.close(self._lock_fd)


def make_scratch(root: Path) -> ScratchDir:
    """A new, locked scratch directory under `root` (blocking)."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root))
    fd = os.open(path / _LOCK, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        raise
    return ScratchDir(path, fd)


def sweep(root: Path) -> int:
    """Remove the API's scratch directories no live process holds; how many (blocking)."""
    try:
        candidates = [entry for entry in os.scandir(root) if entry.name.startswith(PREFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    except OSError as exc:
        # Not fatal: requests that need scratch space will say what is wrong.
        log.warning("cannot look for leftover scratch directories in %s: %s", root, exc)
        return 0
    removed = 0
    for entry in candidates:
        if entry.is_symlink() or not entry.is_dir():
            continue
        if _abandoned(Path(entry.path)):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed %d scratch directories left in %s by a stopped API", removed, root)
    return removed


def _abandoned(path: Path) -> bool:
    try:
        fd = os.open(path / _LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return False
        return age > _UNLOCKED_GRACE_SECONDS
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: a live API process is using it
    finally:
        os.close(fd)
    return True


def scratch_root(app: web.Application) -> Path:
    """`<state>/tmp`, where the API's scratch space lives."""
    return app[SETTINGS].state_dir / "tmp"


@asynccontextmanager
async def scratch_dir(app: web.Application) -> AsyncIterator[Path]:
    """A scratch directory for one request, removed when the block ends however it ends."""
    scratch = await blocking(app, make_scratch, scratch_root(app))
    try:
        yield scratch.path
    finally:
        # Shielded: a cancelled request (the client went away) still waits for it.
        await asyncio.shield(blocking(app, scratch.remove))


async def scratch_sweep_ctx(app: web.Application) -> AsyncIterator[None]:
    """At start-up, before the first request: what a killed API left behind goes."""
    await blocking(app, sweep, scratch_root(app))
    yield
