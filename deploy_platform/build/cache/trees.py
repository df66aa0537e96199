"""The cached directories on disk: their fingerprints, their labels, where they lead."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = ["is_direct_path", "is_empty_dir", "part_label", "tree_fingerprint"]


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) under root, sorted, with an explicit stack (deep trees)."""
    stack = [("", str(root))]
    while stack:
        prefix, directory = stack.pop()
        with os.scandir(directory) as iterator:
            entries = sorted(iterator, key=lambda e: e.name, reverse=True)
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            rel = f"{prefix}{entry.name}"
            yield rel, st
            if stat.S_ISDIR(st.st_mode):
                stack.append((f"{rel}/", entry.path))


def tree_fingerprint(root: Path, exclude: tuple[str, ...]) -> tuple[str, int]:
    """(digest, file count) of the tree: names, types, link targets and file contents.

    Reading the contents costs one pass over the tree (far less than packing and
    uploading it), and makes "nothing changed" exact: a framework cache may rewrite a
    file in place at the same size.
    """
    digest = hashlib.sha256()
    files = 0
    for rel, st in _walk(root):
        if any(part in exclude for part in rel.split("/")):
            continue
        if stat.S_ISLNK(st.st_mode):
            line = f"l\0{rel}\0{os.readlink(root / rel)}\n"
            files += 1
        elif stat.S_ISDIR(st.st_mode):
            line = f"d\0{rel}\n"
        else:
            fd = os.open(root / rel, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                content = hashlib.file_digest(handle, "sha256").hexdigest()
            line = f"f\0{rel}\0{st.st_size}\0{content}\n"
            files += 1
        digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest(), files


def part_label(name: str) -> str:
    """An object-key-safe label for a cache name (`node_modules/.cache` has a slash)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "part"
    return f"{slug[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def is_direct_path(path: Path) -> bool:
    """No symlink anywhere on the way to `path` (nor `path` itself)."""
    absolute = os.path.abspath(path)
    return os.path.realpath(absolute) == absolute
