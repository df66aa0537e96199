"""What went wrong with git, in words a person can act on.

Exceptions (all `SourceError`, so a run records a readable reason)::

    SourceError             unreachable, needs a login, timed out, commit gone
     ├─ RefNotFound         the ref names no branch or tag (lists some that exist)
     └─ RepositoryTooLarge  over `max_bytes` (names DP_MAX_REPO_BYTES)

`explain` turns git's stderr into such a message: no traces, no credentials.
"""

from __future__ import annotations

import re

from deploy_platform.contracts.errors import SourceError

__all__ = ["RefNotFound", "RepositoryTooLarge", "explain", "is_transport_failure"]


class RefNotFound(SourceError):
    """The ref names no branch or tag in the repository."""


class RepositoryTooLarge(SourceError):
    """The repository is bigger than the configured limit (`DP_MAX_REPO_BYTES`)."""


_TRANSPORT_MARKERS = (
    "could not resolve",
    "failed to connect",
    "couldn't connect",
    "connection refused",
    "connection timed out",
    "timed out",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "authentication failed",
    "returned error: 4",
    "returned error: 5",
    "returned error: 3",
    "not found",
    "ssl",
    "certificate",
    "redirect",
    "empty reply",
    "recv failure",
    "send failure",
)


def is_transport_failure(stderr: str) -> bool:
    """The server could not be talked to, rather than refusing one commit."""
    lowered = stderr.lower()
    if "not our ref" in lowered or "unadvertised object" in lowered:
        return False
    return any(marker in lowered for marker in _TRANSPORT_MARKERS)


def explain(stderr: str, display: str, action: str) -> str:
    """A message a person can act on, from git's stderr (no traces, no credentials)."""
    lowered = stderr.lower()
    if "could not resolve" in lowered:
        return f"cannot reach {display}: the host name does not resolve; check the URL"
    if any(m in lowered for m in ("failed to connect", "couldn't connect", "connection refused")):
        return (
            f"cannot reach {display}: the connection was refused; check the URL and that the "
            "Git server is up"
        )
    if any(
        m in lowered
        for m in (
            "could not read username",
            "could not read password",
            "terminal prompts disabled",
            "authentication failed",
            "returned error: 401",
            "returned error: 403",
        )
    ):
        return (
            f"{display} asks for a login: the repository is private or does not exist. The "
            "platform fetches repositories that anyone can read; make it public or check "
            "the URL"
        )
    if "returned error: 404" in lowered or ("repository" in lowered and "not found" in lowered):
        return f"no Git repository at {display} (HTTP 404); check the URL"
    if "redirect" in lowered or "returned error: 30" in lowered:
        return (
            f"{display} redirects to another address; use the repository's final URL "
            "(redirects are not followed, so a fetch cannot be sent to an unchecked host)"
        )
    if "ssl" in lowered or "certificate" in lowered:
        return f"TLS error talking to {display}: {_last_line(stderr)}"
    if "timed out" in lowered:
        return f"cannot reach {display}: the connection timed out; check the URL"
    if "not valid: is this a git repository" in lowered or "not a git repository" in lowered:
        return f"{display} is not a Git repository; check the URL"
    detail = _last_line(stderr) or "no error output"
    return f"git {action} failed for {display}: {detail}"


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    for prefix in ("fatal:", "error:", "remote:"):
        if line.lower().startswith(prefix):
            line = line[len(prefix) :].strip()
    line = re.sub(r"//[^/@\s]*@", "//", line)  # never echo credentials
    return line[:300]
