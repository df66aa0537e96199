"""How deep and how long a path in a site's source may be.

A tree 1,200 directories deep (an upload, or a repository) overflows the
kernel's PATH_MAX (4096 bytes) on the way down, so its unpacking or checkout
fails with an OSError, reported as a 500 with its scratch directory left behind.
These limits refuse such a tree up front, naming the limit, before anything is
written. They are far above what real sites need: node_modules-free web
repositories nest 10-20 levels and their longest paths are ~200 bytes.

Checked by `deploy_platform.source.archive` (every entry unpacked, uploads while they
stream in through `deploy_platform.source.archive.scan`) and `deploy_platform.source.git`
(every path of the commit, before checkout).
"""

from __future__ import annotations

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_BYTES", "MAX_PATH_DEPTH", "path_problem"]

#: Path components (directories plus the name): `a/b/c.txt` is 3.
MAX_PATH_DEPTH = 64
#: UTF-8 bytes of a path relative to the site's root.
MAX_PATH_BYTES = 1024
#: One file or directory name (Linux NAME_MAX).
MAX_NAME_BYTES = 255


def path_problem(path: str | bytes, what: str = "path") -> str | None:
    """Why `path` (relative, `/`-separated) breaks a limit, or None when it does not.

    Empty and `.` components are not counted (`./a//b` is `a/b`).
    """
    raw = path.encode("utf-8", "surrogateescape") if isinstance(path, str) else path
    parts = [part for part in raw.split(b"/") if part not in (b"", b".")]
    shown = repr(raw[:80].decode("utf-8", "replace") + ("..." if len(raw) > 80 else ""))
    if len(parts) > MAX_PATH_DEPTH:
        return (
            f"{what} {shown} is {len(parts)} levels deep; the limit is {MAX_PATH_DEPTH} "
            "levels (directories plus the name): flatten the tree"
        )
    length = sum(len(part) for part in parts) + max(0, len(parts) - 1)
    if length > MAX_PATH_BYTES:
        return (
            f"{what} {shown} is {length} bytes long; the limit is {MAX_PATH_BYTES} bytes "
            "per path: shorten its names"
        )
    for part in parts:
        if len(part) > MAX_NAME_BYTES:
            return (
                f"{what} {shown} has a name of {len(part)} bytes; the limit is "
                f"{MAX_NAME_BYTES} bytes per name"
            )
    return None
