"""Byte ranges (RFC 9110 section 14): `Range`, `If-Range`, 206 and 416.

What is served:
- only GET, only the `bytes` unit, only one range: `a-b`, `a-` or `-n`.
  A request for several ranges gets the whole file with 200, which the RFC
  allows (14.2) and avoids multipart/byteranges, which browsers and media
  players do not need and which is a known amplification vector;
- ranges always apply to the identity (uncompressed) body: a Range request is
  answered uncompressed whatever Accept-Encoding says, so offsets mean the same
  thing on every request (what nginx, Apache and most CDNs do for ranges);
- `If-Range` with the identity ETag (strong comparison, 13.1.5) lets the range
  through; any other validator, a weak one or a date (this edge sends no
  Last-Modified) means the whole file with 200;
- a header that does not parse, a range with last < first, another unit or an
  empty body: the Range is ignored and the answer is the usual 200 (14.2);
- a first byte at or past the end, or `-0`: 416 with `Content-Range: bytes */<size>`.

Numbers longer than 20 digits make the header unparsable (so no arbitrary-size
integers are built from a header, and the Worker's parse agrees exactly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["ByteRange", "UNSATISFIABLE", "Unsatisfiable", "parse_range", "requested_range"]

_SPEC = re.compile(r"([0-9]{1,20})-([0-9]{0,20})|-([0-9]{1,20})")
_UNIT = re.compile(r"bytes=(.*)", re.IGNORECASE | re.ASCII | re.DOTALL)
_OWS = " \t"


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start`..`end` inclusive of a body `size` bytes long."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class Unsatisfiable:
    """A valid range that selects nothing of the body: 416."""

    def __repr__(self) -> str:
        return "UNSATISFIABLE"


UNSATISFIABLE: Final = Unsatisfiable()


def parse_range(header: str, size: int) -> ByteRange | Unsatisfiable | None:
    """The single byte range `header` asks for in a body of `size` bytes; None: ignore it."""
    unit = _UNIT.fullmatch(header.strip(_OWS))
    if unit is None or size == 0:
        return None
    specs = [part.strip(_OWS) for part in unit.group(1).split(",") if part.strip(_OWS)]
    if len(specs) != 1:
        return None  # none, or several: the whole body
    spec = _SPEC.fullmatch(specs[0])
    if spec is None:
        return None
    first, last, suffix = spec.groups()
    if suffix is not None:
        length = int(suffix)
        if length == 0:
            return UNSATISFIABLE
        return ByteRange(max(size - length, 0), size - 1, size)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid (14.1.1): ignored
    if start >= size:
        return UNSATISFIABLE
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end, size)


def requested_range(
    method: str, range_header: str | None, if_range: str | None, etag: str, size: int
) -> ByteRange | Unsatisfiable | None:
    """The range to answer (of the identity body, ETag `etag`), or None for the whole body."""
    if method != "GET" or range_header is None:
        return None
    if if_range is not None and if_range.strip(_OWS) != etag:
        return None  # the client's copy is another version: send it all
    return parse_range(range_header, size)
