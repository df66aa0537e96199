"""URL path -> file it names, and what a path that names no file gets.

SECURITY, the layers that keep a request inside its deployment:
  1. The raw path is percent-decoded exactly once, as UTF-8; what a second
     decoding would produce (`%252e%252e` -> `%2e%2e`) stays literal text.
  2. NUL and other control characters (tab included: a browser drops it from a
     URL, so `/%09/evil.example` could become `//evil.example`) and `.`/`..`
     segments in any spelling (`..`, `%2e%2e`, `..%2f`) are refused with 400.
     A backslash is an ordinary character of a name, as on Pages.
  3. Empty segments (`//`) collapse for the file lookup; a redirect built from the
     path as sent (`/%2Fwww.example.com/index/`) has its leading run of slashes,
     backslashes and blanks cut to one `/` (`same_origin_location`), so a Location
     never starts with `//` or `/\`, which a browser reads as another host.
  4. The result is only ever an exact key of the manifest's `files` map: there is
     no file system and no object key built from the path, so even a path that
     got through 1-3 can name nothing outside the deployment.

HTML FILES AND THEIR URLS, exactly as Cloudflare Pages' asset server decides
(`P` is the decoded path; lookups use its collapsed form):
    P ends with /     P/index.html exists          -> serve it
                      P ends with /index/          -> 308 P minus `index/`
                      P without its / + .html      -> 308 P without its /
    P is a file       P ends with .html:
                        P minus .html ends /index  -> 308 that minus `index`
                        P minus .html is a file    -> serve P (both stay reachable)
                        else                       -> 308 P minus .html
                      any other file               -> serve it
    P ends with /index                             -> 308 P minus `index`
    P.html exists                                  -> serve it
    P/index.html exists                            -> 308 P/
So `/about` serves about.html, `/about.html` and `/about/` redirect to `/about`,
`/docs` redirects to `/docs/`, `/docs/index.html`, `/docs/index` and `/docs/index/`
to `/docs/` (the last two whether or not docs/index.html exists, as on Pages).
Every redirect keeps the query string (the handler adds it) and is one step: its
target is served or answered as not found, never redirected again (but `/x/`,
when both `x` and `x.html` exist, leads to the file `x`, as on Pages).
One deliberate difference: `/..html` is served, where Pages redirects to `/.`.

A PATH THAT NAMES NO FILE gets, in order:
  1. the nearest `404.html`, with status 404: `/a/b/c` (and `/a/b/`) try
     `/a/b/404.html`, `/a/404.html`, `/404.html` (at most `MAX_404_DEPTH`
     directories deep, which bounds the work a long path costs);
  2. for a single-page app, `/index.html` with status 200, so a client-side
     route (`/settings/profile`) loads the app. A deployment is a single-page app
     when it has `/index.html` and no `/404.html` (Cloudflare Pages' rule). Not
     for paths that name a file the app itself would load: a fingerprinted asset
     (`deploy_platform.contracts.fingerprint`) or a last segment with an extension other
     than .html/.htm (`/favicon.ico`, `/x.css`, `/data.json`, `/.env`). Those are
     broken links, and index.html in their place would fail confusingly as a
     script or stylesheet, so they get a real 404 (Pages serves index.html there).
     A client-side route whose last segment has a dot (`/users/jane.doe`) needs
     a `200` rewrite rule;
  3. the platform's 404 page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import quote, unquote_to_bytes

from deploy_platform.contracts.fingerprint import is_fingerprinted
from deploy_platform.contracts.manifest import FileEntry, Manifest

__all__ = [
    "BadPath",
    "RequestPath",
    "Outcome",
    "Resolution",
    "Fallback",
    "parse_path",
    "resolve",
    "find_file",
    "same_origin_location",
    "fallback_for",
    "names_a_file",
    "INDEX",
    "NOT_FOUND_NAME",
    "MAX_404_DEPTH",
]

INDEX = "index.html"
_INDEX_NAME = "index"
_INDEX_DIRECTORY = "index/"
NOT_FOUND_NAME = "404.html"
MAX_404_DEPTH = 32
_HTML = ".html"
# A last segment with one of these extensions is a page, so may be an app's route.
_PAGE_EXTENSIONS = frozenset({"html", "htm"})
# RFC 3986 pchar minus the unreserved characters quote() always keeps.
_SEGMENT_SAFE = "!$&'()*+,;=:@"
# What Pages cuts from the start of a redirect's location: any run of slashes,
# backslashes, blanks and their encoded spellings (`%2F`, `%5C`, `%09`). The blanks
# are JavaScript's `\s` spelled out (control characters never get this far), so
# the Worker (edge-worker/src/paths.js) cuts exactly the same.
_BLANKS = " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_LEADING_SLASHES = re.compile(f"^(?:/|%2[Ff]|%5[Cc]|%09|\\\\|[{_BLANKS}])+")


class BadPath(ValueError):
    """A request path that is refused with 400; the message says why."""


@dataclass(frozen=True)
class RequestPath:
    """A decoded, normalized path: its segments, and whether it names a directory."""

    segments: tuple[str, ...]
    directory: bool
    #: The path decoded but not collapsed (`//a//b/`), as a redirect repeats it.
    decoded: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        """The manifest key for this path (`/a/b`); `/` for the root."""
        return "/" + "/".join(self.segments)

    def url(self, directory: bool | None = None) -> str:
        """The path re-encoded for a Location header; always starts with one `/`."""
        as_directory = self.directory if directory is None else directory
        encoded = "/".join(quote(segment, safe=_SEGMENT_SAFE) for segment in self.segments)
        trailing = "/" if as_directory and self.segments else ""
        return "/" + encoded + trailing


class Outcome(Enum):
    FILE = "file"
    REDIRECT = "redirect"
    NOT_FOUND = "not found"


@dataclass(frozen=True)
class Resolution:
    outcome: Outcome
    #: FILE: the manifest key served; REDIRECT: the Location path; NOT_FOUND: "".
    target: str = ""
    entry: FileEntry | None = None


@dataclass(frozen=True)
class Fallback:
    """The deployment's file that answers a path naming no file, and with which status."""

    key: str
    entry: FileEntry
    status: int


def parse_path(raw_path: str) -> RequestPath:
    """Decode and check a raw (still percent-encoded) request path; raises `BadPath`."""
    if not raw_path.startswith("/"):
        raise BadPath("the path must start with '/'")
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise BadPath("the path is not UTF-8") from None
    if any(ord(char) < 0x20 or char == "\x7f" for char in decoded):
        raise BadPath("the path contains a control character (NUL or similar)")
    parts = decoded.split("/")
    if any(part in (".", "..") for part in parts):
        raise BadPath("the path contains a '.' or '..' segment")
    segments = tuple(part for part in parts if part)
    return RequestPath(
        segments=segments, directory=decoded.endswith("/") or not segments, decoded=decoded
    )


def resolve(manifest: Manifest, path: RequestPath) -> Resolution:
    """The file `path` names, or where it redirects: Pages' rules (see above)."""
    files = manifest.files
    key = path.key
    sent = path.decoded or path.url()
    if path.directory:
        index = _join(key, INDEX)
        if index in files:
            return _file(files, index)
        if sent.endswith("/" + _INDEX_DIRECTORY):
            return _redirect(sent[: -len(_INDEX_DIRECTORY)])
        if path.segments and key + _HTML in files:
            return _redirect(sent.rstrip("/"))
        return Resolution(Outcome.NOT_FOUND)
    if key in files:
        if not key.endswith(_HTML):
            return _file(files, key)
        stem, sent_stem = key[: -len(_HTML)], sent[: -len(_HTML)]
        if stem.endswith("/" + _INDEX_NAME):
            return _redirect(sent_stem[: -len(_INDEX_NAME)])
        if stem in files or stem == "/" or stem.endswith("/.") or stem.endswith("/.."):
            # Both stay reachable; `/..html` would lead to `/.` (Pages' answer), no URL.
            return _file(files, key)
        return _redirect(sent_stem)
    if sent.endswith("/" + _INDEX_NAME):
        return _redirect(sent[: -len(_INDEX_NAME)])
    if key + _HTML in files:
        return _file(files, key + _HTML)
    if _join(key, INDEX) in files:
        return _redirect(sent + "/")
    return Resolution(Outcome.NOT_FOUND)


def same_origin_location(decoded: str) -> str:
    """A decoded path made a Location that stays on this host: the leading run of
    slashes, backslashes and blanks becomes one `/`, the rest is percent-encoded."""
    stripped = "/" + _LEADING_SLASHES.sub("", decoded)
    return quote(stripped, safe="/" + _SEGMENT_SAFE)


def _file(files: Mapping[str, FileEntry], key: str) -> Resolution:
    return Resolution(Outcome.FILE, key, files[key])


def _redirect(decoded: str) -> Resolution:
    return Resolution(Outcome.REDIRECT, same_origin_location(decoded))


def find_file(manifest: Manifest, path: RequestPath) -> tuple[str, FileEntry] | None:
    """The first file of the lookup order that exists, without any redirect.

    A rewrite rule's destination is served this way: `/app/index.html` as a
    destination is that file, not a redirect to `/app/`.
    """
    files = manifest.files
    key = path.key
    candidates: tuple[str, ...]
    if path.directory:
        candidates = (_join(key, INDEX), key + _HTML) if path.segments else (_join(key, INDEX),)
    else:
        candidates = (key, key + _HTML, _join(key, INDEX))
    for candidate in candidates:
        entry = files.get(candidate)
        if entry is not None:
            return candidate, entry
    return None


def fallback_for(manifest: Manifest, path: RequestPath) -> Fallback | None:
    """What answers a path that names no file; None: the platform's 404 page."""
    files = manifest.files
    directories = path.segments if path.directory else path.segments[:-1]
    for depth in range(min(len(directories), MAX_404_DEPTH), -1, -1):
        key = "/" + "/".join((*directories[:depth], NOT_FOUND_NAME))
        entry = files.get(key)
        if entry is not None:
            return Fallback(key, entry, 404)
    index = files.get("/" + INDEX)
    if index is None or names_a_file(path):
        return None
    # No 404.html at the top (else the loop above found one): a single-page app.
    return Fallback("/" + INDEX, index, 200)


def names_a_file(path: RequestPath) -> bool:
    """A fingerprinted asset or a name with an extension other than .html/.htm."""
    if path.directory:
        return False
    if is_fingerprinted(path.key):
        return True
    _stem, dot, extension = path.segments[-1].rpartition(".")
    return bool(dot and extension) and extension.lower() not in _PAGE_EXTENSIONS


def _join(directory_key: str, name: str) -> str:
    return directory_key.rstrip("/") + "/" + name
