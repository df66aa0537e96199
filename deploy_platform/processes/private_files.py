"""Files and directories only the platform's own user may read.

The state directory holds the API token, the private Redis's password and URL,
DAGSTER_HOME and every deployment's sources: 0700. Secret files are 0600 from
their first byte: written to a temporary file created 0600 beside them, then
renamed over the old one, so no reader ever sees a world-readable or half-written
secret.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

__all__ = ["make_private_dir", "read_or_create_secret", "restrict", "write_private"]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private_dir(path: Path) -> None:
    """Create `path` (and parents) if missing; the directory itself ends 0700 either way."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    restrict(path, PRIVATE_DIR)


def restrict(path: Path, mode: int) -> None:
    """Take away every permission beyond `mode` (an earlier version may have left more)."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        os.chmod(path, current & mode)


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, atomically, as a 0600 file."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # exact, whatever the umask
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_or_create_secret(path: Path, generate: Callable[[], str]) -> str:
    """The secret kept in `path` (made 0600 if it was more open), or a new one from
    `generate` written there first."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if value:
        restrict(path, PRIVATE_FILE)
        return value
    value = generate()
    write_private(path, value + "\n")
    return value
