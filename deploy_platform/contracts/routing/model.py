"""The rule types, their checks and their form in the manifest (`routes`).

A rule carries its syntax: `pages=True` for `_redirects` / `_headers` rules, matched
as Cloudflare Pages matches them (`routing.pages`); `pages=False` for netlify.toml,
vercel.json and every rule stored before Pages parity (`routing.canonical`). The
manifest writes `"pages": true` only on Pages rules, so older manifests read unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from deploy_platform.contracts.routing.canonical import (
    DEST_PARAM,
    CanonicalPattern,
    compile_pattern,
)
from deploy_platform.contracts.routing.errors import (
    MAX_LINE_LENGTH,
    MAX_REDIRECTS,
    MAX_STORED_HEADER_RULES,
    PROTECTED_HEADERS,
    RoutingError,
)
from deploy_platform.contracts.routing.pages import (
    PagesPattern,
    compile_pages_pattern,
    url_has_host,
)

__all__ = [
    "REDIRECT_STATUSES",
    "PAGES_STATUSES",
    "Redirect",
    "HeaderRule",
    "Routes",
    "check_header",
]

#: 200 serves the destination's file in place (a rewrite); 404 serves it with status 404
#: (netlify.toml only: Pages has no 404 rule).
REDIRECT_STATUSES = frozenset({200, 301, 302, 303, 307, 308, 404})
PAGES_STATUSES = frozenset({200, 301, 302, 303, 307, 308})

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_FIELD_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f\\]")

Pattern = CanonicalPattern | PagesPattern


def _pages_pattern(source: str, where: str) -> PagesPattern:
    if not source.startswith(("/", "https://")):
        raise RoutingError(f"{where}: the path {source!r} must start with '/' or https://")
    if len(source) > MAX_LINE_LENGTH:
        raise RoutingError(f"{where}: the path is longer than {MAX_LINE_LENGTH} characters")
    pattern = compile_pages_pattern(source)
    if pattern is None:
        raise RoutingError(
            f"{where}: {source!r} can never match: it has two '*', a placeholder used twice "
            "or a placeholder whose name is not a word (Pages ignores such a rule)"
        )
    return pattern


@dataclass(frozen=True)
class Redirect:
    """One redirect or rewrite. `origin` says where it came from (`_redirects line 3`)."""

    source: str
    destination: str
    status: int = 301
    force: bool = False
    origin: str = ""
    pages: bool = False
    _pattern: Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = self.origin or "redirect"
        if self.pages:
            object.__setattr__(self, "_pattern", _pages_pattern(self.source, where))
            _check_pages_destination(self.destination, self.status, where)
            return
        pattern = compile_pattern(self.source, where, splat_anywhere=False)
        object.__setattr__(self, "_pattern", pattern)
        _check_destination(self.destination, self.status, pattern.names, where)

    @property
    def is_rewrite(self) -> bool:
        """True when the destination's file is served in place (status 200 or 404)."""
        return self.status in (200, 404)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": self.source,
            "destination": self.destination,
            "status": self.status,
            "force": self.force,
            "origin": self.origin,
        }
        if self.pages:
            data["pages"] = True
        return data


@dataclass(frozen=True)
class HeaderRule:
    """Headers for every path the pattern matches; `detach` removes headers (`! Name`).

    A canonical rule's `detach` removes what earlier rules set; a Pages rule's also
    removes the platform's own header of that name, as on Pages.
    """

    source: str
    headers: tuple[tuple[str, str], ...] = ()
    detach: tuple[str, ...] = ()
    origin: str = ""
    pages: bool = False
    _pattern: Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = self.origin or "header rule"
        if self.pages:
            pattern: Pattern = _pages_pattern(self.source, where)
        else:
            pattern = compile_pattern(self.source, where, splat_anywhere=True)
        object.__setattr__(self, "_pattern", pattern)
        for name, value in self.headers:
            check_header(name, value, where)
        for name in self.detach:
            check_header(name, "", where)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": self.source,
            "headers": [[name, value] for name, value in self.headers],
            "detach": list(self.detach),
            "origin": self.origin,
        }
        if self.pages:
            data["pages"] = True
        return data


@dataclass(frozen=True)
class Routes:
    """Every rule of a deployment, in the order they are tried."""

    redirects: tuple[Redirect, ...] = ()
    headers: tuple[HeaderRule, ...] = ()

    def __post_init__(self) -> None:
        if len(self.redirects) > MAX_REDIRECTS:
            raise RoutingError(
                f"{len(self.redirects)} redirect and rewrite rules; the limit is {MAX_REDIRECTS}"
            )
        if len(self.headers) > MAX_STORED_HEADER_RULES:
            raise RoutingError(
                f"{len(self.headers)} header rules; the limit is {MAX_STORED_HEADER_RULES}"
            )

    def __bool__(self) -> bool:
        return bool(self.redirects or self.headers)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (the manifest's `routes` field)."""
        return {
            "redirects": [rule.to_json() for rule in self.redirects],
            "headers": [rule.to_json() for rule in self.headers],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Routes:
        """Rebuild (and re-check) rules from `to_json`'s form, old or new; raises RoutingError."""
        try:
            redirects = tuple(
                Redirect(
                    source=str(rule["source"]),
                    destination=str(rule["destination"]),
                    status=int(rule["status"]),
                    force=bool(rule["force"]),
                    origin=str(rule.get("origin", "")),
                    pages=bool(rule.get("pages", False)),
                )
                for rule in data.get("redirects", [])
            )
            headers = tuple(
                HeaderRule(
                    source=str(rule["source"]),
                    headers=tuple((str(n), str(v)) for n, v in rule.get("headers", [])),
                    detach=tuple(str(name) for name in rule.get("detach", [])),
                    origin=str(rule.get("origin", "")),
                    pages=bool(rule.get("pages", False)),
                )
                for rule in data.get("headers", [])
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, RoutingError):
                raise
            raise RoutingError(f"stored routes are malformed: {exc!r}") from exc
        return cls(redirects, headers)


def _check_pages_destination(destination: str, status: int, where: str) -> None:
    if status not in PAGES_STATUSES:
        raise RoutingError(
            f"{where}: valid status codes are 200, 301, 302 (default), 303, 307 and 308; "
            f"got {status}"
        )
    if not destination.startswith(("/", "https://")):
        raise RoutingError(f"{where}: {destination!r} is neither a path nor an https:// URL")
    if len(destination) > MAX_LINE_LENGTH:
        raise RoutingError(f"{where}: the destination is longer than {MAX_LINE_LENGTH} characters")
    if _UNSAFE_TARGET.search(destination):
        # A browser reads `/\evil.com` as another host: never let a rule write one.
        raise RoutingError(f"{where}: the destination has a space, control or '\\' character")
    if status == 200 and url_has_host(destination):
        raise RoutingError(
            f"{where}: proxy (200) rules can only point to paths of this site; got {destination}"
        )


def _check_destination(destination: str, status: int, names: frozenset[str], where: str) -> None:
    if status not in REDIRECT_STATUSES:
        allowed = ", ".join(str(s) for s in sorted(REDIRECT_STATUSES))
        raise RoutingError(f"{where}: status {status} is not supported; use one of {allowed}")
    if not destination:
        raise RoutingError(f"{where}: the destination is empty")
    if len(destination) > MAX_LINE_LENGTH:
        raise RoutingError(f"{where}: the destination is longer than {MAX_LINE_LENGTH} characters")
    if any(ord(char) < 0x21 or char == "\x7f" for char in destination):
        raise RoutingError(f"{where}: the destination contains a space or control character")
    if "\\" in destination:
        raise RoutingError(f"{where}: the destination contains a backslash")
    external = destination.startswith(("http://", "https://"))
    if status in (200, 404):
        if external:
            raise RoutingError(
                f"{where}: a {status} rewrite to another site ({destination}) would need a "
                "proxy, which is not offered; rewrite to a path of this deployment, or redirect"
            )
        if "?" in destination or "#" in destination:
            raise RoutingError(
                f"{where}: a {status} rewrite serves a file; remove the query string or fragment"
            )
    if external:
        if not urlsplit(destination).netloc:
            raise RoutingError(f"{where}: {destination!r} has no host")
    elif not destination.startswith("/") or destination.startswith("//"):
        raise RoutingError(
            f"{where}: the destination {destination!r} must be a path starting with a single "
            "'/' or an http(s):// URL"
        )
    path = urlsplit(destination).path
    if any(part in (".", "..") for part in path.split("/")):
        raise RoutingError(f"{where}: the destination contains a '.' or '..' segment")
    used = set(DEST_PARAM.findall(path if external else destination.split("?")[0]))
    digits = {name for name in used if name.isdigit()}
    if digits - names:
        missing = ", ".join(f":{name}" for name in sorted(digits - names))
        raise RoutingError(f"{where}: the destination uses {missing}, which the source lacks")


def check_header(name: str, value: str, where: str) -> None:
    """Raise RoutingError unless `name: value` is a header a rule may set."""
    if not _TOKEN.match(name):
        raise RoutingError(f"{where}: {name!r} is not a valid header name")
    if name.lower() in PROTECTED_HEADERS:
        raise RoutingError(
            f"{where}: {name} frames the body on the connection, so only the server sets it"
        )
    if not _FIELD_VALUE.match(value) or len(value) > MAX_LINE_LENGTH:
        raise RoutingError(
            f"{where}: the value of {name} has a control character or is longer than "
            f"{MAX_LINE_LENGTH} characters"
        )
