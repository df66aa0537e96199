"""Hand a build's work directory and HOME to the build user before each step.

A root platform's builds run as `isolation.BUILD_USER`, which must be able to
write what the step writes: the checked-out source (unpacked by root), the
cache the platform restored into it (`node_modules`, framework caches), the
step's HOME. The platform, being root, still reads, packs, caches and removes
all of it afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from deploy_platform.build.isolation import BuildUser

__all__ = ["hand_over", "outermost"]


def outermost(paths: Sequence[Path]) -> list[Path]:
    """The directories a build may write, without those inside another one.

    Only these are handed over and bound into the sandbox. A directory inside
    another (the step's cwd inside the work directory) is left out: an earlier
    step could have replaced it, or a directory above it, with a symlink to any
    file of the machine. For the same reason each must be reached without a
    symlink (the platform made them; a build cannot have replaced them).
    """
    normal = sorted({Path(os.path.normpath(os.path.abspath(p))) for p in paths})
    kept: list[Path] = []
    for path in normal:
        if any(path.is_relative_to(outer) for outer in kept):
            continue
        if os.path.realpath(path) != str(path):
            raise ValueError(f"{path} is reached through a symlink; a build may not write there")
        kept.append(path)
    return kept


def hand_over(paths: Sequence[Path], user: BuildUser) -> None:
    """Make `paths` (recursively) owned by the build user, so the build can write them.

    Symlinks are changed themselves, never followed; only entries on the same
    filesystem as their root are touched. Run only while no build process is alive
    (between steps), so nothing can swap an entry during the walk.
    """
    for root in paths:
        try:
            top = os.lstat(root)
        except FileNotFoundError:
            continue
        _chown(str(root), top, user)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in (*dirnames, *filenames):
                path = os.path.join(dirpath, name)
                try:
                    info = os.lstat(path)
                except FileNotFoundError:
                    continue
                if info.st_dev != top.st_dev:
                    dirnames[:] = [d for d in dirnames if d != name]
                    continue
                _chown(path, info, user)


def _chown(path: str, info: os.stat_result, user: BuildUser) -> None:
    if info.st_uid != user.uid or info.st_gid != user.gid:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)
