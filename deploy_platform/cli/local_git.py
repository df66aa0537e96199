"""The commit a directory being uploaded is at, when it is in a git repository.

`deploy DIRECTORY` sends it with the upload (`commit`, `commit_message`,
`commit_author`), so the deployments list says what was deployed, as it does for a
repository the platform fetches itself. The directory is the person's own, so git
runs there as they would run it; anything it cannot answer (no git, not a
repository, no commit yet) is no commit, never an error.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["head_commit"]

_TIMEOUT = 5.0
# sha, author name, then the whole message; NUL-separated (a message may hold anything else).
_FORMAT = "%H%x00%an%x00%B"


# The platform's own files (the bundled sample site) may sit in the platform's checkout:
# its commits are not the deployed site's.
_PACKAGE = Path(__file__).resolve().parents[1]


def head_commit(directory: Path) -> dict[str, str] | None:
    """{"commit", "commit_message", "commit_author"} of HEAD, or None (not in a
    repository, or a directory of the platform's own package)."""
    if directory.resolve().is_relative_to(_PACKAGE):
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "log", "-1", "--no-color", f"--format={_FORMAT}"],
            capture_output=True,
            timeout=_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    parts = done.stdout.decode("utf-8", "replace").split("\x00", 2)
    if len(parts) != 3 or not parts[0].strip():
        return None
    sha, author, message = (part.strip() for part in parts)
    first_line = message.split("\n", 1)[0].strip()
    found = {"commit": sha, "commit_message": first_line, "commit_author": author}
    return {name: value for name, value in found.items() if value}
