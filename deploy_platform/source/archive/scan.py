"""Checks an archive's entries while it is still arriving: refuse early, write nothing.

`safe_extract` proves an archive safe by unpacking it; a hostile one with
120,000 empty files made it write 100,000 of them (over two minutes of an API
thread) before the entry limit stopped it. `TarScanner` reads only the tar
headers, fed the upload's bytes chunk by chunk as they arrive (decompressing
incrementally, never more than `_OUT_CHUNK` at a time), and raises
`UnsafeArchive` at the (max_files + 1)-th entry or the first path over
`deploy_platform.contracts.tree_limits`, so such an upload is refused in about a second,
before its end has even been sent.

It is a first, cheap filter, not the proof: what it cannot read with certainty
(a damaged stream, GNU sparse files, a malformed pax record) it stops reading
and leaves to `safe_extract`, which checks everything again.
"""

from __future__ import annotations

import bz2
import lzma
import zlib

from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.contracts.tree_limits import path_problem

__all__ = ["TarScanner"]

_BLOCK = 512
_OUT_CHUNK = 1024 * 1024
# pax and GNU long-name headers carry names: a megabyte is absurdly generous.
_MAX_META_BYTES = 1024 * 1024
_META_TYPES = frozenset(b"xgLK")
# Types whose size counts data blocks after the header (tarfile's rule: regular
# files, and types it does not know).
_NO_DATA_TYPES = frozenset(b"123456")


class TarScanner:
    """Feed it the archive's bytes in order; it raises `UnsafeArchive` on the first entry
    over the limits. `stream_limit` caps the decompressed bytes (a compression bomb)."""

    def __init__(self, max_files: int, stream_limit: int, max_bytes: int) -> None:
        self.max_files = max_files
        self.stream_limit = stream_limit
        self.max_bytes = max_bytes
        self.entries = 0
        self.done = False
        self._head = b""  # the first bytes, until the format is known
        self._decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor | None = None
        self._gzip: zlib._Decompress | None = None
        self._kind = ""
        self._decompressed = 0
        self._buffer = bytearray()
        self._skip = 0  # data bytes still to pass over
        self._meta_type = 0  # a pax / long-name header whose content is being read
        self._meta_size = 0
        self._skip_after_meta = 0
        self._long_name: bytes | None = None
        self._pax_path: bytes | None = None
        self._pax_size: int | None = None

    def feed(self, data: bytes) -> None:
        if self.done or not data:
            return
        if not self._kind:
            self._head += data
            if len(self._head) < 6:
                return
            data, self._head = self._head, b""
            self._start(data[:6])
        if self._kind == "tar":
            self._tar(data)
            return
        try:
            self._inflate(data)
        except (zlib.error, OSError, EOFError, lzma.LZMAError):
            self.done = True  # damaged: safe_extract says so, naming the problem

    def _start(self, head: bytes) -> None:
        if head.startswith(b"\x1f\x8b"):
            self._kind, self._gzip = "gzip", zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif head.startswith(b"BZh"):
            self._kind, self._decompressor = "bzip2", bz2.BZ2Decompressor()
        elif head.startswith(b"\xfd7zXZ\x00"):
            self._kind, self._decompressor = "xz", lzma.LZMADecompressor()
        else:
            self._kind = "tar"

    def _inflate(self, data: bytes) -> None:
        if self._kind == "gzip":
            self._inflate_gzip(data)
            return
        decompressor = self._decompressor
        assert decompressor is not None
        self._tar(decompressor.decompress(data, _OUT_CHUNK))
        while not self.done and not decompressor.eof and not decompressor.needs_input:
            self._tar(decompressor.decompress(b"", _OUT_CHUNK))

    def _inflate_gzip(self, data: bytes) -> None:
        decompressor = self._gzip
        assert decompressor is not None
        while data and not self.done:
            self._tar(decompressor.decompress(data, _OUT_CHUNK))
            data = decompressor.unconsumed_tail
            if decompressor.eof:
                self.done = True  # a second gzip member (rare) is left to safe_extract

    def _tar(self, data: bytes) -> None:
        if not data or self.done:
            return
        self._decompressed += len(data)
        if self._decompressed > self.stream_limit:
            raise UnsafeArchive(
                f"the archive expands to more than {self.max_bytes} bytes of content plus "
                "tar overhead (a compression bomb?); the limit is DP_MAX_UPLOAD_BYTES / "
                "DP_MAX_REPO_BYTES"
            )
        view = memoryview(data)
        while view and not self.done:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                continue
            need = self._meta_size if self._meta_type else _BLOCK
            if not self._buffer and len(view) >= need:  # the usual case: no copy to a buffer
                block, view = bytes(view[:need]), view[need:]
                if self._meta_type:
                    self._meta(block)
                else:
                    self._header(block)
                continue
            take = min(need - len(self._buffer), len(view))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) < need:
                return
            block = bytes(self._buffer)
            self._buffer.clear()
            if self._meta_type:
                self._meta(block)
            else:
                self._header(block)

    def _header(self, block: bytes) -> None:
        if block.count(0) == _BLOCK:
            self.done = True  # the end-of-archive marker
            return
        if not _checksum_ok(block):
            self.done = True  # tarfile ends (or refuses) here too
            return
        kind = block[156]
        size = _number(block[124:136])
        if size is None:
            self.done = True
            return
        if kind in _META_TYPES:
            if size > _MAX_META_BYTES:
                raise UnsafeArchive(
                    f"the archive has an extended header of {size} bytes; names and "
                    "attributes of an entry fit in far less"
                )
            self._meta_type, self._meta_size = kind, size
            self._skip_after_meta = _padding(size)
            if size == 0:
                self._meta(b"")
            return
        if kind == ord("S"):
            self.done = True  # GNU sparse: its map follows; safe_extract reads it
            return
        self.entries += 1
        name = self._long_name or self._pax_path or _ustar_name(block)
        if self._pax_size is not None:
            size = self._pax_size
        self._long_name = self._pax_path = self._pax_size = None
        if self.entries > self.max_files:
            shown = name[:80].decode("utf-8", "replace")
            raise UnsafeArchive(
                f"the archive has more than {self.max_files} entries (stopped at {shown!r}); "
                "deploy fewer files"
            )
        problem = path_problem(name, "archive entry")
        if problem is not None:
            raise UnsafeArchive(problem)
        if kind not in _NO_DATA_TYPES:
            self._skip = size + _padding(size)

    def _meta(self, content: bytes) -> None:
        kind = self._meta_type
        self._meta_type, self._meta_size = 0, 0
        self._skip = self._skip_after_meta
        if kind == ord("L"):
            self._long_name = content.split(b"\0", 1)[0]
        elif kind == ord("x"):
            records = _pax_records(content)
            if records is None:
                self.done = True
                return
            if b"path" in records:
                self._pax_path = records[b"path"]
            if b"size" in records:
                try:
                    self._pax_size = int(records[b"size"])
                except ValueError:
                    self.done = True


def _padding(size: int) -> int:
    return -size % _BLOCK


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156])
    if stored is None:
        return False
    rest = block[:148] + block[156:]
    unsigned = sum(rest) + 8 * 32
    if stored == unsigned:
        return True
    # Some old tars summed signed chars.
    return stored == unsigned - 256 * sum(1 for byte in rest if byte > 127)


def _number(field: bytes) -> int | None:
    """A tar number: octal text, or GNU base-256 (high bit of the first byte set)."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] == 0xFF else value
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        return None


def _ustar_name(block: bytes) -> bytes:
    name = block[0:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\x00":  # POSIX ustar: a prefix may hold the directories
        prefix = block[345:500].split(b"\0", 1)[0]
        if prefix:
            return prefix + b"/" + name
    return name


def _pax_records(content: bytes) -> dict[bytes, bytes] | None:
    """`<length> <key>=<value>\\n` records; None when they do not parse."""
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(content):
        if content[pos] == 0:
            break
        space = content.find(b" ", pos)
        if space < 0:
            return None
        try:
            length = int(content[pos:space])
        except ValueError:
            return None
        record = content[space + 1 : pos + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            return None
        key, _, value = record[:-1].partition(b"=")
        records[key] = value
        pos += length
    return records
