"""Response headers and conditional requests.

Every file gets its manifest content type, a strong ETag (the body's sha256,
so the same bytes keep the same tag across deployments) and a Cache-Control:
  - `public, max-age=0, must-revalidate` for HTML and every other file whose
    name is not content-hashed: a host may move to another deployment at any
    moment, so caches must ask again each time, and the ETag makes asking cheap (304);
  - `public, max-age=31536000, immutable` for a fingerprinted file
    (`deploy_platform.contracts.fingerprint`) served at its own URL: that URL never names
    other bytes. Not when a rewrite serves it elsewhere, nor for a
    fingerprinted-looking URL answered by another file (a 404 page, a rewrite).
Safe defaults: `X-Content-Type-Options: nosniff` keeps browsers to the declared
type; `Referrer-Policy: strict-origin-when-cross-origin` (the browsers' own
default, said explicitly) sends other origins the origin alone, never the path
and query. `serve.robots` adds `X-Robots-Tag: noindex` on preview and
deployment-id hosts.

Layers, later ones win: a manifest entry's own `headers`; the type, validator,
Cache-Control and Referrer-Policy above; then `answer_headers`: our cache policy,
the deployment's header rules (`_headers`, vercel.json, netlify.toml;
`serve.rules`), which may replace Cache-Control and Referrer-Policy (a site knows
which of its files never change), and the robots header; last nosniff and Server.
No layer can set the framing headers, the type or the validator.
The representation's own headers (a precompressed variant's ETag,
Content-Encoding and Vary) are set on top by `serve.encodings`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from deploy_platform.contracts.fingerprint import is_fingerprinted
from deploy_platform.contracts.manifest import FileEntry

__all__ = [
    "FILE_CACHE_CONTROL",
    "IMMUTABLE_CACHE_CONTROL",
    "PAGE_CACHE_CONTROL",
    "REFERRER_POLICY",
    "SERVER",
    "answer_headers",
    "cache_control_for",
    "etag_for",
    "file_headers",
    "page_headers",
    "if_none_match_matches",
]

FILE_CACHE_CONTROL = "public, max-age=0, must-revalidate"
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
REFERRER_POLICY = "strict-origin-when-cross-origin"
# The platform's own error pages say nothing about any site: never store them,
# so a site created a second later is not hidden behind a cached 404.
PAGE_CACHE_CONTROL = "no-store"
SERVER = "deploy-platform-edge"

_STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e\x80-\xff]*"$')
# One element of an If-None-Match list (RFC 9110 section 8.8.3): an optional
# weak marker and a quoted opaque tag; empty list elements are allowed.
_ETAG_ELEMENT = re.compile(r'[\s,]*(?:W/)?("[^"]*")\s*(?:,|$)')
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_FIELD_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")
# Headers a manifest may not set: they describe the framing, the validator or
# the type, which the edge derives itself.
_RESERVED = frozenset(
    {
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "etag",
        "keep-alive",
        "upgrade",
        "trailer",
    }
)


def etag_for(entry: FileEntry) -> str:
    """The entry's strong ETag; one made from the blob hash if the manifest's is malformed."""
    if _STRONG_ETAG.match(entry.etag):
        return entry.etag
    return f'"{entry.blob}"'


_SECURITY = frozenset({"x-content-type-options", "server"})


def cache_control_for(requested: str, served: str) -> str:
    """A year for a fingerprinted file answered at its own path (`requested` is the
    request's manifest key, `served` the file's); revalidate for everything else."""
    if requested == served and is_fingerprinted(served):
        return IMMUTABLE_CACHE_CONTROL
    return FILE_CACHE_CONTROL


def answer_headers(*layers: Mapping[str, str]) -> dict[str, str]:
    """The layers for `file_headers`' `rules`, merged in order; names compare case-insensitively.

    The handler passes `{Cache-Control: cache_control_for(...)}`, the header rules,
    then `serve.robots.robots_headers(site)`, so the robots header wins over a rule.
    """
    merged: dict[str, str] = {}
    for layer in layers:
        for name, value in layer.items():
            _set(merged, name, value)
    return merged


def _set(headers: dict[str, str], name: str, value: str) -> None:
    lower = name.lower()
    for existing in [key for key in headers if key.lower() == lower]:
        del headers[existing]
    headers[name] = value


def _security_headers() -> dict[str, str]:
    return {"X-Content-Type-Options": "nosniff", "Server": SERVER}


def file_headers(entry: FileEntry, rules: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers for a 200/404 file response and (minus the type) for its 304.

    `rules`: what goes over the file's headers for this answer (`answer_headers`).
    """
    headers = {
        name: value
        for name, value in entry.headers.items()
        if name.lower() not in _RESERVED and _TOKEN.match(name) and _FIELD_VALUE.match(value)
    }
    headers.update(
        {
            "Content-Type": entry.content_type,
            "ETag": etag_for(entry),
            "Cache-Control": FILE_CACHE_CONTROL,
        }
    )
    if not any(name.lower() == "referrer-policy" for name in headers):
        headers["Referrer-Policy"] = REFERRER_POLICY
    for name, value in (rules or {}).items():
        lower = name.lower()
        if lower in _RESERVED or lower in _SECURITY or not _FIELD_VALUE.match(value):
            continue
        _set(headers, name, value)
    headers.update(_security_headers())
    return headers


def page_headers() -> dict[str, str]:
    """Headers for the platform's own HTML pages (errors, not found)."""
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": PAGE_CACHE_CONTROL,
        **_security_headers(),
    }


def if_none_match_matches(header: str | None, etag: str) -> bool:
    """True when If-None-Match names `etag`, so the answer is 304 (RFC 9110 13.1.2).

    If-None-Match uses the weak comparison: `W/"x"` matches `"x"`. `*` matches
    any current representation. A header that does not parse is ignored, which
    means the full response is sent: never a wrong 304.
    """
    if header is None:
        return False
    value = header.strip()
    if value == "*":
        return True
    target = etag[2:] if etag.startswith("W/") else etag
    position = 0
    while position < len(value):
        element = _ETAG_ELEMENT.match(value, position)
        if element is None:
            return False
        if element.group(1) == target:
            return True
        if element.end() == position:
            return False
        position = element.end()
    return False
