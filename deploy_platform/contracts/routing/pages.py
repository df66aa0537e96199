"""Cloudflare Pages' rule syntax: how a `_redirects` / `_headers` URL is normalised, how a
rule's pattern matches a request, and how a redirect's Location is written.

The reference is Cloudflare's own asset server (workers-sdk, packages/pages-shared:
metadata-generator/validateURL.ts, asset-server/rulesEngine.ts and handler.ts); this is
our implementation of the same behaviour, kept answer-for-answer equal to
edge-worker/src/rules.js (tests/contracts/test_routing_pages.py and
edge-worker/test/rules.test.mjs run the same cases, edge-worker/test/fixtures/rules-cases.json).

A rule matches the request's URL pathname as the URL parser leaves it (still
percent-encoded: `/some%20page` matches a request for `/some%20page`), exactly, with no
trailing-slash folding; a rule starting with `https://` matches `https://<host><pathname>`.
`*` captures `splat` (any characters), `:name` one or more characters other than `/`
(`.` too, in a host). Captures replace `:name` in the destination or header value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "PagesPattern",
    "compile_pages_pattern",
    "validate_url",
    "url_has_host",
    "normalize_pathname",
    "replace_placeholders",
    "pages_location",
    "rewrite_pathname",
    "is_dynamic",
    "hostname_of",
]

_PATH_SET = frozenset(' "#<>?`{}')
_SPECIAL_QUERY_SET = frozenset(" \"#<>'")
_QUERY_SET = frozenset(' "#<>')
_FRAGMENT_SET = frozenset(' "<>`')
_SINGLE_DOT = frozenset({".", "%2e"})
_DOUBLE_DOT = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})
_URL = re.compile(r"https:/+(?P<host>[^/]+)/?(?P<path>.*)", re.DOTALL)
# How the URL parser splits an absolute destination: the host ends at `/`, `?` or `#`.
_ABSOLUTE = re.compile(r"https:/+(?P<host>[^/?#]*)(?P<rest>.*)", re.DOTALL)
_HOST_WITH_PORT = re.compile(r".*:\d+", re.DOTALL)
_ESCAPE = re.compile(r"[-/\\^$*+?.()|\[\]{}]")
_PLACEHOLDER = re.compile(r":([A-Za-z0-9_]+)")
_HOST_PLACEHOLDER = re.compile(r":([^\\]+)(?=\\)")
_GROUP_NAME = re.compile(r"[^\W\d]\w*")
_DYNAMIC = re.compile(r"\*|:[A-Za-z0-9_]")


def _encode(text: str, extra: frozenset[str]) -> str:
    """Percent-encode what the URL standard encodes in this component (C0, non-ASCII, `extra`)."""
    out: list[str] = []
    for char in text:
        if char < " " or char > "~" or char in extra:
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass")))
        else:
            out.append(char)
    return "".join(out)


def _split(url: str) -> tuple[str, str | None, str | None]:
    """`path?query#fragment` -> its three parts (None: absent)."""
    path, hash_mark, fragment = url.partition("#")
    path, question, query = path.partition("?")
    return path, (query if question else None), (fragment if hash_mark else None)


def normalize_pathname(path: str, *, special: bool = False) -> str:
    """A path as the URL parser writes it: dot segments resolved, unsafe characters escaped.

    `special`: parsed as an https: URL, where a backslash separates segments too.
    """
    if special:
        path = path.replace("\\", "/")
    if not path.startswith("/"):
        path = "/" + path
    segments = path[1:].split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        lower = segment.lower()
        if lower in _DOUBLE_DOT:
            if out:
                out.pop()
            if last:
                out.append("")
        elif lower in _SINGLE_DOT:
            if last:
                out.append("")
        else:
            out.append(_encode(segment, _PATH_SET))
    return "/" + "/".join(out)


def _url_input(text: str) -> str:
    """What the URL parser reads of `text`: no C0 control or space at either end, and
    no tab or newline anywhere."""
    return re.sub(r"[\t\n\r]", "", text.strip("".join(map(chr, range(0x21)))))


def _extract(path: str, include_search: bool, include_hash: bool) -> str:
    path = _url_input(path)
    raw_path, query, fragment = _split(path if path.startswith("/") else "/" + path)
    result = normalize_pathname(raw_path)
    if include_search and query:
        result += "?" + _encode(query, _QUERY_SET)
    if include_hash and fragment:
        result += "#" + _encode(fragment, _FRAGMENT_SET)
    return result


def url_has_host(token: str) -> bool:
    found = _URL.match(token)
    return bool(found and found.group("host"))


def validate_url(
    token: str,
    *,
    only_relative: bool = False,
    disallow_ports: bool = False,
    include_search: bool = False,
    include_hash: bool = False,
) -> tuple[str | None, str]:
    """A rule's URL as Pages stores it, or None and the reason it is refused."""
    found = _URL.match(token)
    if found and found.group("host"):
        host = found.group("host")
        if only_relative:
            return None, f"only relative URLs are allowed; skipping the absolute URL {token}"
        if disallow_ports and _HOST_WITH_PORT.fullmatch(host):
            return None, f"a port is not allowed in a rule's host ({host})"
        return "https://" + host + _extract(found.group("path"), include_search, include_hash), ""
    if not token.startswith("/") and only_relative:
        token = "/" + token
    if token.startswith("/"):
        return _extract(token, include_search, include_hash), ""
    if only_relative:
        return None, "URLs should begin with a forward-slash"
    return None, (
        "URLs should either be relative (begin with a forward-slash) or use HTTPS "
        "(begin with https://)"
    )


def is_dynamic(source: str) -> bool:
    """A rule with a splat or a placeholder (Pages matches the others by exact lookup)."""
    return bool(_DYNAMIC.search(source))


@dataclass(frozen=True)
class PagesPattern:
    regex: re.Pattern[str]
    cross_host: bool

    def match(self, pathname: str, host: str) -> dict[str, str] | None:
        subject = f"https://{host}{pathname}" if self.cross_host else pathname
        found = self.regex.fullmatch(subject)
        return None if found is None else {k: v or "" for k, v in found.groupdict().items()}


def _escape(text: str) -> str:
    return _ESCAPE.sub(lambda found: "\\" + found.group(0), text)


def compile_pages_pattern(source: str) -> PagesPattern | None:
    """`source` -> its matcher, or None where Pages' own regex would not compile
    (two `*`, a name used twice, a name that is not an identifier): such a rule never
    matches on Pages.
    """
    cross_host = source.startswith("https://")
    text = "(?P<splat>.*)".join(_escape(part) for part in source.split("*"))
    if cross_host:
        # Placeholders in the host stop at a dot or a slash: `https://:sub.example.com/`.
        start = len(r"https:\/\/")
        end = text.find("/", start)
        host = text[start:] if end < 0 else text[start:end]
        for found in _HOST_PLACEHOLDER.finditer(host):
            text = text.replace(found.group(0), _group(found.group(1), "[^/.]+"))
    for found in list(_PLACEHOLDER.finditer(text)):
        text = text.replace(found.group(0), _group(found.group(1), "[^/]+"))
    try:
        regex = re.compile(text)
    except re.error:
        return None
    return PagesPattern(regex, cross_host)


def _group(name: str, body: str) -> str:
    # A name JavaScript would refuse stays invalid here too (Python checks it again).
    return f"(?P<{name}>{body})" if _GROUP_NAME.fullmatch(name) else "(?P<->)"


def replace_placeholders(template: str, params: Mapping[str, str]) -> str:
    """Every `:name` -> its capture, names in the pattern's order, as Pages' replacer."""
    for name, value in params.items():
        template = template.replace(f":{name}", value)
    return template


def _ascii_host(host: str) -> str:
    """Non-ASCII labels in their punycode form, as the URL parser writes a host."""
    if host.isascii():
        return host
    try:
        return ".".join(
            label if label.isascii() else label.encode("idna").decode("ascii")
            for label in host.split(".")
        )
    except UnicodeError:
        return host


def _origin_host(host: str) -> str:
    """A host as a URL's origin writes it: lowercase, without https' default port."""
    host = _ascii_host(host.lower())
    return host.removesuffix(":443")


def hostname_of(host: str) -> str:
    """A Host header's name: lowercase, without its port or a trailing dot (both name
    the same site here, as the edge's host lookup has it)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return (host.rsplit(":", 1)[0] if host.count(":") == 1 else host).rstrip(".")


def pages_location(destination: str, host: str, query: str) -> str:
    """The Location Pages writes for a redirect to `destination` (placeholders filled).

    Same host: the path, the destination's query or else the request's, its fragment.
    Another host: the same after `https://host`. `query` is the request's, without `?`.
    """
    search = "?" + _encode(query, _SPECIAL_QUERY_SET) if query else ""
    target_host = ""
    found = _ABSOLUTE.match(destination) if url_has_host(destination) else None
    if found:
        target_host = found.group("host").rsplit("@", 1)[-1]  # user info is dropped
        rest = found.group("rest")
        destination = rest if rest.startswith("/") else "/" + rest
    elif destination.startswith("//"):
        # A capture that begins with `/` must not turn the path into another host.
        destination = "/" + destination.lstrip("/")
    raw_path, dest_query, fragment = _split(destination)
    tail = normalize_pathname(raw_path, special=True)
    tail += "?" + _encode(dest_query, _SPECIAL_QUERY_SET) if dest_query else search
    if fragment:
        tail += "#" + _encode(fragment, _FRAGMENT_SET)
    target = _origin_host(target_host)
    # The edge may listen on another port behind TLS: the request's port says nothing.
    if not target_host or target == hostname_of(host):
        # A path starting with `//` would name another host to the browser.
        return "/" + tail.lstrip("/") if tail.startswith("//") else tail
    return "https://" + target + tail


def rewrite_pathname(destination: str) -> str:
    """The path a `200` rule serves: its destination's path, query and fragment dropped."""
    raw_path, _query, _fragment = _split(destination)
    return normalize_pathname("/" + raw_path.lstrip("/"), special=True)
