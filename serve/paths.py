"""URL path -> the file it names, and what a path that names no file gets.

SECURITY, the layers that keep a request inside its deployment:
  1. The raw path is percent-decoded exactly once, as UTF-8; what a second
     decoding would produce (`%252e%252e` -> `%2e%2e`) stays literal text.
  2. NUL and other control characters, backslashes (`\\`, `%5c`) and `.`/`..`
     segments in any spelling (`..`, `%2e%2e`, `..%2f`) are refused with 400.
  3. Empty segments (`//`) collapse, so a redirect never starts with `//`
     (which a browser would read as another host).
  4. The result is only ever an exact key of the manifest's `files` map: there is
     no file system and no object key built from the path, so even a path that
     got through 1-3 can name nothing outside the deployment.

ONE URL PER FILE, as on Cloudflare Pages. A file's canonical URL is
    /index.html, /dir/index.html  ->  /, /dir/    (a directory ends with `/`)
    /about.html                   ->  /about      (clean URL; a file never does)
    any other file                ->  its own path
A request looks for a file in this order
    /P     /P, /P.html, /P/index.html
    /P/    /P/index.html, /P.html
and the first one found is served when the request *is* its canonical URL, and
otherwise answered with a 308 to that URL (the handler keeps the query string).
So `/about` serves about.html, `/about.html` and `/about/` redirect to `/about`,
`/docs` redirects to `/docs/`, `/docs/index.html` and `/index` too.
No loop: a file's canonical URL finds that same file first (one step, served),
so a redirect is always followed by a served file. When `/x` and `/x.html` are
both files, `/x` is the file `/x` and x.html keeps `/x.html` as its URL (served
there, no redirect), so neither file becomes unreachable.

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
     script or stylesheet, so they get a real 404. A client-side route whose last
     segment has a dot (`/users/jane.doe`) needs a `200` rewrite rule;
  3. the platform's 404 page.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "canonical_path",
    "fallback_for",
    "names_a_file",
    "INDEX",
    "NOT_FOUND_NAME",
    "MAX_404_DEPTH",
]

INDEX = "index.html"
NOT_FOUND_NAME = "404.html"
MAX_404_DEPTH = 32
_HTML = ".html"
# A last segment with one of these extensions is a page, so may be an app's route.
_PAGE_EXTENSIONS = frozenset({"html", "htm"})
# RFC 3986 pchar minus the unreserved characters quote() always keeps.
_SEGMENT_SAFE = "!$&'()*+,;=:@"


class BadPath(ValueError):
    """A request path that is refused with 400; the message says why."""


@dataclass(frozen=True)
class RequestPath:
    """A decoded, normalized path: its segments, and whether it names a directory."""

    segments: tuple[str, ...]
    directory: bool

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
    if "\\" in decoded:
        raise BadPath("the path contains a backslash")
    parts = decoded.split("/")
    if any(part in (".", "..") for part in parts):
        raise BadPath("the path contains a '.' or '..' segment")
    segments = tuple(part for part in parts if part)
    return RequestPath(segments=segments, directory=decoded.endswith("/") or not segments)


def resolve(manifest: Manifest, path: RequestPath) -> Resolution:
    """The file `path` names, served at its canonical URL or redirected there (see above)."""
    found = find_file(manifest, path)
    if found is None:
        return Resolution(Outcome.NOT_FOUND)
    key, entry = found
    canonical = canonical_path(manifest, key)
    if canonical != path:
        return Resolution(Outcome.REDIRECT, canonical.url())
    return Resolution(Outcome.FILE, key, entry)


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


def canonical_path(manifest: Manifest, key: str) -> RequestPath:
    """The one URL the file `key` is served at; `find_file` finds `key` first for it."""
    segments = tuple(key.split("/")[1:])
    name = segments[-1]
    if name == INDEX:
        return RequestPath(segments[:-1], directory=True)
    stem = name[: -len(_HTML)]
    if name.endswith(_HTML) and stem not in ("", ".", ".."):
        clean = RequestPath((*segments[:-1], stem), directory=False)
        # The no-loop promise: the clean URL is only taken when it finds this
        # file, i.e. when no file sits at the clean URL itself.
        if clean.key not in manifest.files:
            return clean
    return RequestPath(segments, directory=False)


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
