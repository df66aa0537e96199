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
Defaults on every answer of a site below 500, as Cloudflare Pages sends them:
`Access-Control-Allow-Origin: *` (a site's static files may be fetched from any
origin, as on Pages), `Referrer-Policy: strict-origin-when-cross-origin` (the
browsers' own default, said explicitly: other origins get the origin alone, never
the path and query) and `X-Content-Type-Options: nosniff` (browsers keep to the
declared type). `serve.robots` adds `X-Robots-Tag: noindex` on preview and
deployment-id hosts. A 404 is never stored: `Cache-Control: no-store`, whatever
a rule says (Pages does the same).

Layers, later ones win: a manifest entry's own `headers` (the publisher's `Link`
early hints, `deploy_platform.publish.early_hints`); the type, validator,
Cache-Control and the defaults above; then an overlay (`answer_headers`): our cache
policy, the deployment's header rules (`_headers`, vercel.json, netlify.toml;
`serve.rules`), which may replace or remove (`! Name`, a None value) any of those
defaults and the type, and the robots header; last Server. No layer can set the
framing headers or the validator.
The representation's own headers (a precompressed variant's ETag,
Content-Encoding and Vary) are set on top by `serve.encodings`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from deploy_platform.contracts.fingerprint import is_fingerprinted
from deploy_platform.contracts.manifest import FileEntry

__all__ = [
    "ALLOW_ANY_ORIGIN",
    "FILE_CACHE_CONTROL",
    "Overlay",
    "IMMUTABLE_CACHE_CONTROL",
    "PAGE_CACHE_CONTROL",
    "REFERRER_POLICY",
    "SERVER",
    "answer_headers",
    "apply_overlay",
    "cache_control_for",
    "etag_for",
    "file_headers",
    "page_headers",
    "redirect_headers",
    "if_none_match_matches",
]

#: A layer over an answer's headers: a value to set, or None to remove the header.
Overlay = Mapping[str, str | None]

FILE_CACHE_CONTROL = "public, max-age=0, must-revalidate"
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
REFERRER_POLICY = "strict-origin-when-cross-origin"
# The platform's own error pages say nothing about any site: never store them,
# so a site created a second later is not hidden behind a cached 404.
PAGE_CACHE_CONTROL = "no-store"
SERVER = "deploy-platform-edge"
ALLOW_ANY_ORIGIN = "*"

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
# A header rule may choose the type (Pages lets `_headers` set Content-Type, e.g. for
# `/.well-known/apple-app-site-association`); never the framing or the validator,
# which conditional requests and the chosen encoding depend on.
_RULE_RESERVED = _RESERVED - {"content-type"}


def etag_for(entry: FileEntry) -> str:
    """The entry's strong ETag; one made from the blob hash if the manifest's is malformed."""
    if _STRONG_ETAG.match(entry.etag):
        return entry.etag
    return f'"{entry.blob}"'


# Neither a manifest nor a rule names the software answering.
_OURS = frozenset({"server"})


def cache_control_for(requested: str, served: str) -> str:
    """A year for a fingerprinted file answered at its own path (`requested` is the
    request's manifest key, `served` the file's); revalidate for everything else."""
    if requested == served and is_fingerprinted(served):
        return IMMUTABLE_CACHE_CONTROL
    return FILE_CACHE_CONTROL


def answer_headers(*layers: Overlay) -> dict[str, str | None]:
    """The layers of an overlay, merged in order; names compare case-insensitively.

    The handler passes `{Cache-Control: cache_control_for(...)}`, the header rules,
    then `serve.robots.robots_headers(site)`, so the robots header wins over a rule.
    """
    merged: dict[str, str | None] = {}
    for layer in layers:
        for name, value in layer.items():
            _set(merged, name, value)
    return merged


def _set(headers: dict[str, str | None], name: str, value: str | None) -> None:
    lower = name.lower()
    for existing in [key for key in headers if key.lower() == lower]:
        del headers[existing]
    headers[name] = value


def _defaults() -> dict[str, str | None]:
    return {
        "Access-Control-Allow-Origin": ALLOW_ANY_ORIGIN,
        "Referrer-Policy": REFERRER_POLICY,
        "X-Content-Type-Options": "nosniff",
    }


def apply_overlay(
    base: Mapping[str, str | None], overlay: Overlay | None, status: int = 200
) -> dict[str, str]:
    """`base`, then the overlay's changes (a rule cannot touch the reserved headers), then
    Server; a 404 gets `Cache-Control: no-store` whatever the layers said."""
    headers: dict[str, str | None] = dict(base)
    for name, value in (overlay or {}).items():
        lower = name.lower()
        if lower in _RULE_RESERVED or lower in _OURS:
            continue
        if value is not None and not _FIELD_VALUE.match(value):
            continue
        _set(headers, name, value)
    if status == 404:
        _set(headers, "Cache-Control", PAGE_CACHE_CONTROL)
    _set(headers, "Server", SERVER)
    return {name: value for name, value in headers.items() if value is not None}


def file_headers(
    entry: FileEntry, rules: Overlay | None = None, status: int = 200
) -> dict[str, str]:
    """Headers for a 200/404 file response and (minus the type) for its 304.

    `rules`: the overlay for this answer (`answer_headers`).
    """
    headers: dict[str, str | None] = {
        name: value
        for name, value in entry.headers.items()
        if name.lower() not in _RESERVED
        and name.lower() not in _OURS
        and _TOKEN.match(name)
        and _FIELD_VALUE.match(value)
        # A 404 page's early hints are not the requested page's (Pages sends none there).
        and not (status == 404 and name.lower() == "link")
    }
    # The manifest's own Referrer-Policy and the like stay: it was written for this file.
    present = {name.lower() for name in headers}
    for name, value in _defaults().items():
        if name.lower() not in present:
            headers[name] = value
    headers.update(
        {
            "Content-Type": entry.content_type,
            "ETag": etag_for(entry),
            "Cache-Control": FILE_CACHE_CONTROL,
        }
    )
    return apply_overlay(headers, rules, status)


def page_headers(status: int, overlay: Overlay | None = None) -> dict[str, str]:
    """Headers for the platform's own HTML pages (errors, not found).

    Below 500 they carry the site defaults and `overlay` (a live site's header rules
    and robots header on its 404); a 5xx gets none of a site's headers, as on Pages.
    """
    base: dict[str, str | None] = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": PAGE_CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
    }
    if status >= 500:
        return apply_overlay(base, None, status)
    return apply_overlay({**base, **_defaults()}, overlay, status)


def redirect_headers(location: str, overlay: Overlay | None = None) -> dict[str, str]:
    """A redirect's headers: revalidated (an alias may move on), the defaults, the overlay."""
    base: dict[str, str | None] = {
        "Location": location,
        "Cache-Control": FILE_CACHE_CONTROL,
        **_defaults(),
    }
    protected = {
        name: value for name, value in (overlay or {}).items() if name.lower() != "location"
    }
    return apply_overlay(base, protected)


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
