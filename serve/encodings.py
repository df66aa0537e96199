"""Choosing a file's representation by Accept-Encoding (RFC 9110 section 12.5.3).

Publishing stores Brotli and gzip variants of compressible files (the manifest
entry's `encodings`, see `deploy_platform.contracts.manifest`); this module picks one:

- no Accept-Encoding at all: identity. The RFC lets a server send any coding
  then, but a client that sends nothing may well not decode anything;
- each listed coding has its quality (`q`, default 1; `q=0` = not acceptable);
  `*` stands for every coding not listed; `x-gzip` is `gzip` (RFC 9110 8.4.1.3);
  identity is acceptable unless `identity;q=0`, or `*;q=0` without an
  `identity` entry, says otherwise; elements that do not parse are skipped;
- the acceptable variant with the highest q wins, `br` before `gzip` at equal q
  (smaller), and a variant before identity at equal q; identity wins only when
  the client ranks it strictly higher, by name or by `*` (an identity the
  client does not mention is acceptable but least wanted: `br;q=0.8` still
  means "br, please");
- when nothing the file has is acceptable (`identity;q=0` on a file without
  variants) the header is disregarded and identity is sent, as RFC 9110 12.1
  allows: a 406 would only break clients that could have shown the file.

Each representation has its own strong ETag: identity keeps the entry's tag,
a variant appends `-<coding>` inside the quotes (`"<sha256>-br"`), so a cache
never confuses the two and If-None-Match compares against the tag of the
representation being chosen. Every answer for a file that has variants says
`Vary: Accept-Encoding` (200, 206, 304, HEAD, 404 pages), so shared caches
key on it; a file without variants answers the same whatever the client
accepts and so does not vary. A Range request is answered from identity (see
`serve.ranges`), which is why `choose` can be told to ignore the variants.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from dataclasses import dataclass

from deploy_platform.contracts.manifest import BlobRef, FileEntry

__all__ = [
    "SUPPORTED",
    "Representation",
    "accepted_qualities",
    "choose",
    "choose_coding",
    "representation_headers",
    "varies",
    "variant_etag",
]

#: Codings this edge serves, best first (the tie-break at equal q).
SUPPORTED = ("br", "gzip")

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_OWS = " \t"
_ALIASES = {"x-gzip": "gzip"}


@dataclass(frozen=True)
class Representation:
    """What a file answer sends: `coding` None is identity."""

    coding: str | None
    body: BlobRef
    etag: str


def accepted_qualities(header: str) -> dict[str, float]:
    """Coding (lowercase) -> q from an Accept-Encoding value; unparsable elements skipped."""
    qualities: dict[str, float] = {}
    for element in header.split(","):
        name, *params = element.split(";")
        coding = name.strip(_OWS).lower()
        if not _TOKEN.fullmatch(coding):
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip(_OWS).lower() == "q":
                value = value.strip(_OWS)
                quality = float(value) if _QVALUE.fullmatch(value) else -1.0
        if quality < 0:
            continue
        coding = _ALIASES.get(coding, coding)
        # A coding listed twice: the first mention counts (the RFC leaves it open).
        qualities.setdefault(coding, quality)
    return qualities


def choose_coding(header: str | None, available: set[str] | frozenset[str]) -> str | None:
    """The coding to send from `available`, or None for identity."""
    if header is None:
        return None
    qualities = accepted_qualities(header)
    star = qualities.get("*")

    def quality(coding: str) -> float:
        return qualities.get(coding, 0.0 if star is None else star)

    best: str | None = None
    for coding in SUPPORTED:
        if coding in available and quality(coding) > 0:
            if best is None or quality(coding) > quality(best):
                best = coding
    if best is None:
        return None
    # Identity not named (neither itself nor by `*`) is acceptable but least wanted.
    identity = qualities.get("identity", star)
    return best if identity is None or quality(best) >= identity else None


def varies(entry: FileEntry) -> bool:
    """True when the entry's answers depend on Accept-Encoding."""
    return any(coding in entry.encodings for coding in SUPPORTED)


def variant_etag(etag: str, coding: str) -> str:
    """`"<tag>"` -> `"<tag>-<coding>"`: each representation its own strong validator."""
    return f'{etag[:-1]}-{coding}"'


def choose(
    entry: FileEntry, etag: str, accept_encoding: str | None, *, identity_only: bool = False
) -> Representation:
    """The representation to send; `etag` is the entry's (identity) strong ETag."""
    available = frozenset() if identity_only else frozenset(entry.encodings)
    coding = choose_coding(accept_encoding, available)
    if coding is None:
        return Representation(None, entry.identity, etag)
    return Representation(coding, entry.encodings[coding], variant_etag(etag, coding))


def representation_headers(
    headers: MutableMapping[str, str], entry: FileEntry, chosen: Representation
) -> None:
    """Set ETag, Content-Encoding and Vary for the chosen representation."""
    headers["ETag"] = chosen.etag
    if chosen.coding is not None:
        headers["Content-Encoding"] = chosen.coding
    if varies(entry):
        existing = next((name for name in headers if name.lower() == "vary"), None)
        if existing is None:
            headers["Vary"] = "Accept-Encoding"
            return
        value = headers[existing]
        fields = {part.strip().lower() for part in value.split(",")}
        if "*" not in fields and "accept-encoding" not in fields:
            headers[existing] = f"{value}, Accept-Encoding"
