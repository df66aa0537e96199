"""Ref and commit strings, checked without git: what the API, webhooks and projects need.

Pure and import-light (no GitPython, no process): a ref is handed to git as an
argument by `deploy_platform.source.git`, so anything option-like or outside git's
ref-name rules is refused here, long before git sees it.
"""

from __future__ import annotations

import re

from deploy_platform.contracts.errors import InvalidRequest

__all__ = ["is_commit_sha", "validate_ref"]

_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def is_commit_sha(value: str) -> bool:
    """A full commit SHA (40 hex, or 64 for SHA-256 repositories), lowercase or not."""
    return bool(_SHA_RE.match(value.lower()))


def validate_ref(ref: object) -> str:
    """Check that `ref` can name a branch, tag, full ref or commit; raise `InvalidRequest`.

    A ref is handed to git as an argument, so anything option-like or outside git's
    ref-name rules (`git check-ref-format`) is refused before git sees it.
    """
    if not isinstance(ref, str) or not ref:
        raise InvalidRequest("ref must be a non-empty string such as 'main'", field="ref")
    problem: str | None = None
    if len(ref) > 255:
        problem = "it is longer than 255 characters"
    elif ref.startswith("-"):
        problem = "it starts with '-'"
    elif any(ord(char) < 0x21 or ord(char) == 0x7F for char in ref):
        problem = "it contains whitespace or a control character"
    elif any(char in ref for char in "~^:?*[\\"):
        problem = "it contains one of ~ ^ : ? * [ \\"
    elif ".." in ref or "@{" in ref or "//" in ref or ref == "@":
        problem = "it contains '..', '@{' or '//', or is '@'"
    elif ref.endswith(("/", ".", ".lock")) or ref.startswith("/"):
        problem = "it starts with '/' or ends with '/', '.' or '.lock'"
    elif any(part.startswith(".") for part in ref.split("/")):
        problem = "a part of it starts with '.'"
    if problem is not None:
        raise InvalidRequest(
            f"ref {ref!r} is not a valid branch, tag or commit name: {problem}", field="ref"
        )
    return ref
