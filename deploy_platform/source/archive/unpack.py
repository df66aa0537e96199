"""Unpack an untrusted tar (a source upload, a repository's archive, a cache entry).

SECURITY: a source archive comes from a stranger (a repository or an upload), and
so does a cache entry (earlier builds of the user's code), so both are hostile
until checked. `safe_extract` never writes outside `dest`, not even half way:

1. Names: no absolute paths, no `..` components, no backslashes or NULs.
2. Parents: every directory on the way to an entry must be a real directory
   that this extraction made; an entry never goes through a symlink (the classic
   "symlink `a -> /etc`, then file `a/passwd`" trick). Files are created with
   `O_EXCL | O_NOFOLLOW`, so an existing name is never followed or overwritten.
3. Links: symlink targets must be relative and stay inside `dest`; hard links may
   only point at files this archive already wrote. After unpacking, `check_tree`
   (`tree.py`) resolves every symlink again, which catches chains that only
   escape once all their parts exist.
4. Types: only files, directories and links; devices and FIFOs are refused.
5. Size: at most `max_files` entries and `max_bytes` of file content; the
   decompressed stream itself is capped too (`stream_limit`), so a gzip bomb stops early.
6. Paths: at most `tree_limits.MAX_PATH_DEPTH` levels and `MAX_PATH_BYTES` bytes
   (names and link targets), so nothing fails half way with ENAMETOOLONG.

On refusal it raises `UnsafeArchive` naming the entry.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import posixpath
import stat
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.contracts.tree_limits import MAX_PATH_BYTES, path_problem
from deploy_platform.source.archive.tree import ArchiveStats, check_tree, undone_on_failure

__all__ = ["safe_extract", "stream_limit"]

_CHUNK = 1024 * 1024
# Tar overhead a legitimate archive may need per entry (header, long-name or pax
# header, padding), used to cap the decompressed stream above the content limit.
_OVERHEAD_PER_ENTRY = 8 * 1024
_OVERHEAD_FIXED = 64 * 1024


def safe_extract(archive: Path, dest: Path, *, max_bytes: int, max_files: int) -> ArchiveStats:
    """Unpack an untrusted tar (gzip, bzip2, xz or plain) into the new or empty `dest`.

    Raises `UnsafeArchive` naming the entry on any rule in the module docstring; then
    `dest` is left empty (or removed when this call created it).
    """
    dest = Path(dest)
    created = not dest.exists()
    if not created and (not dest.is_dir() or dest.is_symlink() or any(dest.iterdir())):
        raise ValueError(f"{dest} must be a new or empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    with undone_on_failure(dest, created=created):
        with open(archive, "rb") as raw:
            limit = stream_limit(max_bytes, max_files)
            stream = _LimitedReader(_decompressed(raw), limit, max_bytes)
            extractor = _Extractor(Path(os.path.realpath(dest)), max_bytes, max_files)
            try:
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    for member in tar:
                        extractor.add(tar, member)
            except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno is not None:
                    raise  # the disk, not the archive (no space, permissions)
                raise UnsafeArchive(
                    f"the archive is damaged or not a tar archive ({exc}); upload a .tar.gz "
                    "made by `tar czf`"
                ) from None
        # Symlink chains can only be judged once every link exists.
        check_tree(dest)
    return ArchiveStats(files=extractor.files, bytes=extractor.bytes)


def stream_limit(max_bytes: int, max_files: int) -> int:
    """The most decompressed tar a legitimate archive of these limits needs."""
    return max_bytes + _OVERHEAD_PER_ENTRY * (max_files + 1) + _OVERHEAD_FIXED


class _LimitedReader(io.RawIOBase):
    """Stops a decompressed stream that grows far past its declared content (gzip bombs)."""

    def __init__(self, inner: io.BufferedIOBase | BinaryIO, limit: int, max_bytes: int) -> None:
        super().__init__()
        self._inner = inner
        self._limit = limit
        self._max_bytes = max_bytes
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        allowed = self._limit - self._read
        if allowed <= 0:
            if not self._inner.read(1):
                return 0  # exactly at the cap and the stream ends: fine
            raise UnsafeArchive(
                f"the archive expands to more than {self._max_bytes} bytes of content plus "
                "tar overhead (a compression bomb?); the limit is DP_MAX_UPLOAD_BYTES / "
                "DP_MAX_REPO_BYTES"
            )
        data = self._inner.read(min(len(view), allowed))
        view[: len(data)] = data
        self._read += len(data)
        return len(data)


def _decompressed(raw: BinaryIO) -> io.BufferedIOBase | BinaryIO:
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw, mode="rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw, mode="rb")
    return raw


class _Extractor:
    """Writes one member at a time, checking each before anything touches the disk."""

    def __init__(self, root: Path, max_bytes: int, max_files: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.entries = 0
        self.files = 0
        self.bytes = 0
        self._written: set[str] = set()
        self._regular: set[str] = set()

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = member.name
        self.entries += 1
        if self.entries > self.max_files:
            raise UnsafeArchive(
                f"the archive has more than {self.max_files} entries (stopped at {name!r}); "
                "deploy fewer files"
            )
        parts = _safe_parts(name, what="entry")
        problem = path_problem("/".join(parts), "archive entry")
        if problem is not None:
            raise UnsafeArchive(problem)
        if not parts:
            if member.isdir():
                return  # "./" itself
            raise UnsafeArchive(f"archive entry {name!r} has no name")
        rel = "/".join(parts)
        if member.isdir():
            parent = self._parents(parts, rel)
            target = parent / parts[-1]
            try:
                existing = os.lstat(target)
            except FileNotFoundError:
                os.mkdir(target, 0o755)
                return
            if not stat.S_ISDIR(existing.st_mode):
                raise UnsafeArchive(
                    f"archive entry {rel!r} appears twice (once not as a directory)"
                )
            return
        if rel in self._written:
            raise UnsafeArchive(f"archive entry {rel!r} appears twice; each path may appear once")
        if member.isreg():
            self._file(tar, member, parts, rel)
        elif member.issym():
            self._symlink(member, parts, rel)
        elif member.islnk():
            self._hardlink(member, parts, rel)
        else:
            kind = {
                tarfile.CHRTYPE: "character device",
                tarfile.BLKTYPE: "block device",
                tarfile.FIFOTYPE: "FIFO",
            }.get(member.type, f"entry of type {member.type!r}")
            raise UnsafeArchive(
                f"archive entry {rel!r} is a {kind}; archives may hold only files, "
                "directories and links"
            )
        self._written.add(rel)
        self.files += 1

    def _file(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, parts: list[str], rel: str
    ) -> None:
        if self.bytes + member.size > self.max_bytes:
            raise UnsafeArchive(
                f"archive entry {rel!r} ({member.size} bytes) takes the unpacked size past the "
                f"limit of {self.max_bytes} bytes; deploy less content"
            )
        target = self._parents(parts, rel) / parts[-1]
        source = tar.extractfile(member)
        if source is None:  # pragma: no cover - regular members always have data
            raise UnsafeArchive(f"archive entry {rel!r} has no data")
        mode = 0o755 if member.mode & 0o111 else 0o644
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            fd = os.open(target, flags, mode)
        except FileExistsError:
            raise UnsafeArchive(f"archive entry {rel!r} appears twice") from None
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if self.bytes + written > self.max_bytes:
                    raise UnsafeArchive(
                        f"archive entry {rel!r} takes the unpacked size past the limit of "
                        f"{self.max_bytes} bytes"
                    )
                out.write(chunk)
        self.bytes += written
        self._regular.add(rel)

    def _symlink(self, member: tarfile.TarInfo, parts: list[str], rel: str) -> None:
        link = member.linkname
        if not link or "\x00" in link:
            raise UnsafeArchive(f"archive symlink {rel!r} has an empty or invalid target")
        if len(link.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
            raise UnsafeArchive(
                f"archive symlink {rel!r} has a target longer than {MAX_PATH_BYTES} bytes, "
                "the limit per path"
            )
        if link.startswith("/"):
            raise UnsafeArchive(
                f"archive symlink {rel!r} points at the absolute path {link!r}; links must be "
                "relative and stay inside the tree"
            )
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchive(
                f"archive symlink {rel!r} -> {link!r} points outside the tree; links must stay "
                "inside it"
            )
        target = self._parents(parts, rel) / parts[-1]
        try:
            os.symlink(link, target)
        except FileExistsError:
            raise UnsafeArchive(f"archive entry {rel!r} appears twice") from None

    def _hardlink(self, member: tarfile.TarInfo, parts: list[str], rel: str) -> None:
        link_parts = _safe_parts(member.linkname, what=f"hard link {rel!r} target")
        link_rel = "/".join(link_parts)
        if link_rel not in self._regular:
            raise UnsafeArchive(
                f"archive hard link {rel!r} -> {member.linkname!r} does not point at a file "
                "earlier in the archive; hard links must stay inside the tree"
            )
        source = self.root.joinpath(*link_parts)
        self._check_no_symlink(link_parts[:-1], rel)
        target = self._parents(parts, rel) / parts[-1]
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            raise UnsafeArchive(f"archive entry {rel!r} appears twice") from None

    def _parents(self, parts: list[str], rel: str) -> Path:
        """The real directory that will hold `parts[-1]`, made if missing, never via a link."""
        current = self.root
        for index, part in enumerate(parts[:-1]):
            current = current / part
            try:
                existing = os.lstat(current)
            except FileNotFoundError:
                os.mkdir(current, 0o755)
                continue
            if stat.S_ISLNK(existing.st_mode):
                prefix = "/".join(parts[: index + 1])
                raise UnsafeArchive(
                    f"archive entry {rel!r} goes through {prefix!r}, which is a symlink; "
                    "entries may not be written through links"
                )
            if not stat.S_ISDIR(existing.st_mode):
                prefix = "/".join(parts[: index + 1])
                raise UnsafeArchive(f"archive entry {rel!r} needs {prefix!r} to be a directory")
        return current

    def _check_no_symlink(self, parts: list[str], rel: str) -> None:
        current = self.root
        for part in parts:
            current = current / part
            if current.is_symlink():
                raise UnsafeArchive(
                    f"archive hard link {rel!r} goes through a symlink; links must stay inside"
                )


def _safe_parts(name: str, *, what: str) -> list[str]:
    if "\x00" in name:
        raise UnsafeArchive(f"archive {what} {name!r} contains a NUL character")
    if "\\" in name:
        raise UnsafeArchive(
            f"archive {what} {name!r} contains a backslash; use forward slashes only"
        )
    if name.startswith("/"):
        raise UnsafeArchive(
            f"archive {what} {name!r} is an absolute path; entries must be relative"
        )
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(
            f"archive {what} {name!r} contains '..'; entries must stay inside the tree"
        )
    return parts
