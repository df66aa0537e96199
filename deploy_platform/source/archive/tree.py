"""A tree on disk: walk it, check its links stay inside, count it, empty it.

SECURITY: `check_tree` applies the link rule of `unpack.py` to a directory on disk
(build output, and every tree `safe_extract` wrote): a symlink must be relative
and resolve inside the root. It also refuses hard links it cannot prove are
inside: a regular file whose link count is higher than the number of names found
for it inside the root shares its data with a name somewhere else (a build script
can `ln /etc/shadow dist/x`), so it is refused. Hard links whose every name is
inside the root are fine. On refusal it raises `UnsafeArchive` naming the path.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.contracts.tree_limits import path_problem

__all__ = ["ArchiveStats", "check_tree", "empty_directory", "undone_on_failure", "walk"]


@dataclass(frozen=True)
class ArchiveStats:
    """What a tree or archive holds: `files` counts files and symlinks, `bytes` file content."""

    files: int
    bytes: int


def walk(
    root: Path, patterns: tuple[str, ...] = (), skip: Container[str] = frozenset()
) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative name, path, lstat) for everything under root: depth first, by name.

    Names matching a shell pattern in `patterns`, and absolute paths in `skip`, are
    left out with everything under them. An explicit stack instead of recursion: a
    hostile repository can nest directories deeper than Python's recursion limit.
    """
    stack: list[tuple[str, Iterator[os.DirEntry[str]]]] = [("", _sorted_entries(str(root)))]
    while stack:
        prefix, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in patterns):
            continue
        if os.path.abspath(entry.path) in skip:
            continue
        rel = f"{prefix}{entry.name}"
        st = entry.stat(follow_symlinks=False)
        yield rel, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            stack.append((f"{rel}/", _sorted_entries(entry.path)))


def _sorted_entries(directory: str) -> Iterator[os.DirEntry[str]]:
    with os.scandir(directory) as iterator:
        entries = sorted(iterator, key=lambda entry: entry.name)
    return iter(entries)


def check_tree(root: Path) -> ArchiveStats:
    """Refuse links that leave `root` (see the module docstring); count what is there."""
    root_real = os.path.realpath(root)
    files = 0
    total = 0
    links: dict[tuple[int, int], _Inode] = {}
    for rel, path, st in walk(Path(root_real)):
        # Before descending further: a tree past PATH_MAX cannot even be walked.
        problem = path_problem(rel)
        if problem is not None:
            raise UnsafeArchive(problem)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            continue
        if stat.S_ISLNK(mode):
            _check_symlink(rel, path, root_real)
            files += 1
        elif stat.S_ISREG(mode):
            files += 1
            total += st.st_size
            if st.st_nlink > 1:
                inode = links.setdefault((st.st_dev, st.st_ino), _Inode(st.st_nlink, rel))
                inode.seen += 1
        else:
            raise UnsafeArchive(
                f"{rel} is a device, FIFO or socket; only files, directories and symlinks "
                "can be published"
            )
    for inode in links.values():
        if inode.seen < inode.nlink:
            raise UnsafeArchive(
                f"{inode.first} is a hard link to a file outside the tree ({inode.nlink} links, "
                f"{inode.seen} inside); copy the file instead of linking it"
            )
    return ArchiveStats(files=files, bytes=total)


@dataclass
class _Inode:
    """A multiply linked file: how many of its names were found inside the root."""

    nlink: int
    first: str
    seen: int = 0


def _check_symlink(rel: str, path: str, root_real: str) -> None:
    target = os.readlink(path)
    if os.path.isabs(target):
        raise UnsafeArchive(
            f"{rel} is a symlink to the absolute path {target}; links must be relative and "
            "stay inside the tree"
        )
    resolved = os.path.realpath(path)
    if os.path.commonpath([resolved, root_real]) != root_real:
        raise UnsafeArchive(
            f"{rel} is a symlink to {target}, which leaves the tree; links must stay inside it"
        )


def empty_directory(path: Path) -> None:
    """Remove everything inside `path`, keeping `path` itself."""
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


@contextmanager
def undone_on_failure(dest: Path, *, created: bool) -> Iterator[None]:
    """When the block fails, leave no half-written tree: remove `dest` if this call
    `created` it, else empty it (the caller's directory stays)."""
    try:
        yield
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            empty_directory(dest)
        raise
