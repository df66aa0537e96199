"""Precompressed variants of published files (Brotli and gzip), made once at publish time.

An edge that compresses on every request spends CPU per request and can only
afford fast, weak settings; a variant made at publish time costs once and can
use the strongest ones. Which files get variants:

- compressible types only (`is_compressible`): text, JavaScript, JSON, XML,
  SVG, WebAssembly, web manifests, icons and uncompressed font formats. Formats
  that are already compressed (PNG, JPEG, WebP, WOFF2, archives) never shrink
  enough to be worth a second copy, so they are not even tried;
- at least `MIN_SIZE` bytes: below about 1 KiB the answer fits in one packet
  either way, and compression's framing can make it larger;
- a variant is kept only when it saves at least `MIN_SAVING` of the identity
  size; a variant that barely helps would still cost a blob, a cache entry and
  a split in every cache keyed by `Vary: Accept-Encoding`.

Settings: Brotli quality 11 (the slowest, smallest) for files under
`BROTLI_MAX_QUALITY_LIMIT` (1 MiB; about 3 s for the largest such file on one
core), quality 9 above it (over ten times faster for about 8% more bytes);
gzip level 9 with a fixed header (no name, mtime 0), so the same input always
gives the same bytes and therefore the same content-addressed blob.

Files are compressed as streams into temporary files, never held whole in
memory, and each variant's sha256 is computed while it is written. `SETTINGS`
names all of the above; records of earlier results (`deploy_platform.publish.variants`)
are reused only while it is unchanged.
"""

from __future__ import annotations

import hashlib
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import brotli

__all__ = [
    "ENCODINGS",
    "MIN_SIZE",
    "MIN_SAVING",
    "BROTLI_MAX_QUALITY_LIMIT",
    "SETTINGS",
    "CompressedVariant",
    "is_compressible",
    "compress_file",
]

#: Content codings made at publish time, in the order a tie is broken at the edge.
ENCODINGS = ("br", "gzip")
MIN_SIZE = 1024
#: A variant must be at most (1 - MIN_SAVING) of the identity size to be kept.
MIN_SAVING = 0.05
BROTLI_MAX_QUALITY_LIMIT = 1024 * 1024
SETTINGS = f"br:q11<{BROTLI_MAX_QUALITY_LIMIT},q9;gzip:9;min:{MIN_SIZE};saving:{MIN_SAVING}"

_CHUNK = 1024 * 1024
# Media types (without parameters) that are worth compressing besides text/*.
_COMPRESSIBLE_TYPES = frozenset(
    {
        "application/javascript",
        "application/x-javascript",
        "application/json",
        "application/ld+json",
        "application/manifest+json",
        "application/xml",
        "application/xhtml+xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/wasm",
        "application/vnd.ms-fontobject",
        "image/svg+xml",
        "image/x-icon",
        "image/vnd.microsoft.icon",
        "image/bmp",
        "font/ttf",
        "font/otf",
    }
)


@dataclass(frozen=True)
class CompressedVariant:
    """One compressed copy of a file: written to `path` (a temporary file), or
    already stored (`path` None, known from a variant record)."""

    encoding: str
    path: Path | None
    sha256: str
    size: int


def is_compressible(content_type: str) -> bool:
    """True for the media types (parameters ignored) that publishing compresses."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _COMPRESSIBLE_TYPES


def compress_file(
    source: Path, size: int, content_type: str, workdir: Path
) -> list[CompressedVariant]:
    """The variants of `source` worth keeping (possibly none), as files in `workdir`."""
    if size < MIN_SIZE or not is_compressible(content_type):
        return []
    kept = []
    for encoding in ENCODINGS:
        variant = _write_variant(source, encoding, _compressor(encoding, size), workdir)
        if variant.size <= size * (1 - MIN_SAVING):
            kept.append(variant)
        elif variant.path is not None:
            variant.path.unlink(missing_ok=True)
    return kept


class _Compressor:
    def __init__(self, process: Callable[[bytes], bytes], finish: Callable[[], bytes]) -> None:
        self.process = process
        self.finish = finish


def _compressor(encoding: str, size: int) -> _Compressor:
    if encoding == "br":
        quality = 11 if size < BROTLI_MAX_QUALITY_LIMIT else 9
        br = brotli.Compressor(quality=quality)
        return _Compressor(br.process, br.finish)
    if encoding == "gzip":
        # wbits 31 = a gzip wrapper; zlib writes no file name and mtime 0 into it.
        gz = zlib.compressobj(9, zlib.DEFLATED, 31)
        return _Compressor(gz.compress, gz.flush)
    raise ValueError(f"unknown content coding {encoding!r}")


def _write_variant(
    source: Path, encoding: str, compressor: _Compressor, workdir: Path
) -> CompressedVariant:
    digest = hashlib.sha256()
    written = 0
    with (
        open(source, "rb") as src,
        tempfile.NamedTemporaryFile(dir=workdir, suffix=f".{encoding}", delete=False) as out,
    ):
        path = Path(out.name)
        try:
            while True:
                chunk = src.read(_CHUNK)
                data = compressor.process(chunk) if chunk else compressor.finish()
                digest.update(data)
                out.write(data)
                written += len(data)
                if not chunk:
                    break
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return CompressedVariant(encoding=encoding, path=path, sha256=digest.hexdigest(), size=written)
