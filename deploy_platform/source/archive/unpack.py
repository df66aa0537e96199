"""Source and build archives: pack a tree, unpack an untrusted one, check a tree on disk.

Archives here are gzip tars. `pack_directory` writes them reproducibly (sorted
names, zero timestamps and owners) and keeps symlinks as symlinks; whether a
link is acceptable is decided where the tree is used, by the two checks below.

SECURITY: a source archive comes from a stranger (a repository or an upload) and
a build output comes from a stranger's build script, so both are hostile until
checked. `safe_extract` never writes outside `dest`, not even half way:

1. Names: no absolute paths, no `..` components, no backslashes or NULs.
2. Parents: every directory on the way to an entry must be a real directory
   that this extraction made; an entry never goes through a symlink (the classic
   "symlink `a -> /etc`, then file `a/passwd`" trick). Files are created with
   `O_EXCL | O_NOFOLLOW`, so an existing name is never followed or overwritten.
3. Links: symlink targets must be relative and stay inside `dest`; hard links may
   only point at files this archive already wrote. After unpacking, `check_tree`
   resolves every symlink again, which catches chains that only escape once all
   their parts exist.
4. Types: only files, directories and links; devices and FIFOs are refused.
5. Size: at most `max_files` entries and `max_bytes` of file content; the
   decompressed stream itself is capped too, so a gzip bomb stops early.
6. Paths: at most `tree_limits.MAX_PATH_DEPTH` levels and `MAX_PATH_BYTES` bytes
   (names and link targets), so nothing fails half way with ENAMETOOLONG.

`check_tree` applies rule 3 to a directory on disk (build output) and refuses
hard links it cannot prove are inside: a regular file whose link count is higher
than the number of names found for it inside the root shares its data with a name
somewhere else (a build script can `ln /etc/shadow dist/x`), so it is refused.
Hard links whose every name is inside the root are fine.

On refusal each function raises `UnsafeArchive` naming the entry or path.
"""

from __future__ import annotations

import bz2
import fnmatch
import gzip
import io
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.contracts.tree_limits import MAX_PATH_BYTES, path_problem

__all__ = [
    "ArchiveStats",
    "check_tree",
    "empty_directory",
    "pack_directory",
    "safe_extract",
    "stream_limit",
]

_CHUNK = 1024 * 1024
# Tar overhead a legitimate archive may need per entry (header, long-name or pax
# header, padding), used to cap the decompressed stream above the content limit.
_OVERHEAD_PER_ENTRY = 8 * 1024
_OVERHEAD_FIXED = 64 * 1024


@dataclass(frozen=True)
class ArchiveStats:
    """What a tree or archive holds: `files` counts files and symlinks, `bytes` file content."""

    files: int
    bytes: int


# -- packing ------------------------------------------------------------------------


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
            for rel, path, st in _walk(src, patterns, skip):
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


def _walk(
    root: Path, patterns: tuple[str, ...], skip: set[str]
) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative name, path, lstat) for everything under root: depth first, by name.

    An explicit stack instead of recursion: a hostile repository can nest directories
    deeper than Python's recursion limit.
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


# -- unpacking ----------------------------------------------------------------------


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
    try:
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
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            empty_directory(dest)
        raise
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


def empty_directory(path: Path) -> None:
    """Remove everything inside `path`, keeping `path` itself."""
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


# -- checking a tree on disk --------------------------------------------------------


def check_tree(root: Path) -> ArchiveStats:
    """Refuse links that leave `root` (see the module docstring); count what is there."""
    root_real = os.path.realpath(root)
    files = 0
    total = 0
    links: dict[tuple[int, int], _Inode] = {}
    for rel, path, st in _walk(Path(root_real), (), set()):
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
