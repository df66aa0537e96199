"""URL path -> the manifest entry it names.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote, unquote_to_bytes

from deploy_platform.manifest import FileEntry, Manifest

__all__ = [
    "BadPath",
    "RequestPath",
    "Outcome",
    "Resolution",
    "parse_path",
    "resolve",
    "not_found_page",
    "INDEX",
    "NOT_FOUND_PAGE",
]

INDEX = "index.html"
NOT_FOUND_PAGE = "/404.html"
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
    """`/` and `/dir/` serve `index.html` in them; `/dir` redirects to `/dir/` if that exists."""
    files = manifest.files
    if path.directory:
        index = _join(path.key, INDEX)
        entry = files.get(index)
        if entry is not None:
            return Resolution(Outcome.FILE, index, entry)
        return Resolution(Outcome.NOT_FOUND)
    entry = files.get(path.key)
    if entry is not None:
        return Resolution(Outcome.FILE, path.key, entry)
    if _join(path.key, INDEX) in files:
        # Relative links inside dir/index.html resolve against `/dir/`, not `/`.
        return Resolution(Outcome.REDIRECT, path.url(directory=True))
    return Resolution(Outcome.NOT_FOUND)


def not_found_page(manifest: Manifest) -> FileEntry | None:
    """The deployment's own `/404.html`, served with status 404 when a path is missing."""
    return manifest.files.get(NOT_FOUND_PAGE)


def _join(directory_key: str, name: str) -> str:
    return directory_key.rstrip("/") + "/" + name
