"""How big a fetch is and what its paths look like, measured against the limits.

`max_bytes` (DP_MAX_REPO_BYTES) is checked three times: while the pack downloads
(`tree_bytes` of the git directory), before checkout (`tree_blob_bytes`, the sizes
git lists for the commit's tree) and while the work tree is written, since
attributes such as `working-tree-encoding` can grow files. Every path's depth and
length (`deploy_platform.contracts.tree_limits`) is checked before checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

from deploy_platform.contracts.errors import SourceError
from deploy_platform.contracts.text_format import human_bytes
from deploy_platform.contracts.tree_limits import path_problem
from deploy_platform.source.git.errors import RepositoryTooLarge

__all__ = ["check_paths", "check_size", "too_large_message", "tree_blob_bytes", "tree_bytes"]


def tree_bytes(root: Path, skip: str | None = None) -> int:
    """Bytes of the regular files under `root` (symlinks not followed)."""
    total = 0
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if not (skip and entry.name == skip and current == str(root)):
                                stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue  # a temporary pack renamed while we looked
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


def tree_blob_bytes(listing: bytes) -> int:
    """The blob sizes of a `git ls-tree -r -l -z` listing, added up."""
    total = 0
    for record in listing.split(b"\0"):
        meta, _, _path = record.partition(b"\t")
        fields = meta.split()
        if len(fields) == 4 and fields[1] == b"blob" and fields[3].isdigit():
            total += int(fields[3])
    return total


def check_paths(listing: bytes) -> None:
    """Refuse a commit with a path past `tree_limits` before checkout writes any of it."""
    for record in listing.split(b"\0"):
        _meta, tab, path = record.partition(b"\t")
        problem = path_problem(path, "the repository's path") if tab else None
        if problem is not None:
            raise SourceError(f"{problem} (deploy-platform's limits for a source tree)")


def check_size(what: str, size: int, limit: int) -> None:
    """Raise `RepositoryTooLarge` when `size` of the `what` ("download", "files") is over."""
    if size > limit:
        raise RepositoryTooLarge(too_large_message(what, limit, size))


def too_large_message(what: str, limit: int, size: int | None = None) -> str:
    limit_text = f"the limit of {human_bytes(limit, 'bytes')} ({limit} bytes)"
    measured = "" if size is None else f" ({human_bytes(size, 'bytes')})"
    if what == "download":
        problem = f"its download{measured} went over {limit_text}"
    else:
        problem = f"the files of this commit{measured} went over {limit_text}"
    return (
        f"the repository is too large: {problem}. Make it smaller (for example move large "
        "files out of it) or ask the operator to raise DP_MAX_REPO_BYTES"
    )
