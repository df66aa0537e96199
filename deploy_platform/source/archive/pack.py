"""Pack a tree into a gzip tar, reproducibly: sorted names, zero timestamps and owners.

Symlinks are kept as symlinks; whether a link is acceptable is decided where the
tree is used (`tree.check_tree`, `unpack.safe_extract`), not here.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path

from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.source.archive.tree import ArchiveStats, walk

__all__ = ["pack_directory"]


def pack_directory(
    src: Path, dest: Path, *, exclude: Iterable[str] = (".git",), compresslevel: int = 9
) -> ArchiveStats:
    """Write the tree under `src` to the gzip tar `dest`, reproducibly.

    `exclude` holds names (shell patterns allowed) left out at any depth, together
    with everything under them. Symlinks are stored as symlinks. Devices, FIFOs and
    sockets are refused. `dest` is written atomically (a temporary file, then rename).
    """
    src = Path(src)
    dest = Path(dest)
    if not src.is_dir():
        raise NotADirectoryError(f"{src} is not a directory")
    patterns = tuple(exclude)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    skip = {os.path.abspath(dest), os.path.abspath(tmp)}
    files = 0
    total = 0
    try:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel
            ) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for rel, path, st in walk(src, patterns, skip):
                info = tarfile.TarInfo(rel)
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if stat.S_ISDIR(st.st_mode):
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
                elif stat.S_ISLNK(st.st_mode):
                    info.type = tarfile.SYMTYPE
                    info.linkname = os.readlink(path)
                    info.mode = 0o777
                    tar.addfile(info)
                    files += 1
                elif stat.S_ISREG(st.st_mode):
                    # O_NOFOLLOW: a file swapped for a symlink after the walk is not followed.
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                    with os.fdopen(fd, "rb") as handle:
                        opened = os.fstat(handle.fileno())
                        info.type = tarfile.REGTYPE
                        info.size = opened.st_size
                        info.mode = 0o755 if opened.st_mode & 0o111 else 0o644
                        tar.addfile(info, handle)
                    files += 1
                    total += info.size
                else:
                    raise UnsafeArchive(
                        f"{rel} is a device, FIFO or socket; only files, directories and "
                        "symlinks can be packed"
                    )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ArchiveStats(files=files, bytes=total)
