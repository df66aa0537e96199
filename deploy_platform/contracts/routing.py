"""Routing rules: the rule types, their patterns and matching (dagster-free; serve imports it).

The rules are read from `_redirects`, `_headers`, `netlify.toml` and `vercel.json` by
`deploy_platform.publish.rule_files`, which also fixes their order. Here they are checked,
stored in the manifest and matched: the first matching redirect wins; every matching header
rule applies, in order.

Shadowing (Netlify's rule): a rule applies to a path that names an existing file
only when it is forced (`Redirect.force`).

Every pattern is kept in one canonical syntax (stored in the manifest):
  `:name`   one path segment          `:name?`  an optional segment
  `:name*`  zero or more segments     `:name+`  one or more segments (last only)
  `*`       any characters, captured as `splat` (header rules only, once)
Names are identifiers, or digits for Vercel's anonymous `(.*)` groups (`$1`).
Paths match case-sensitively, with a trailing slash ignored on both sides.
Destinations may use `:name` for any name the pattern captures.

Limits keep matching cheap and manifests small: 2,000 redirect rules, 100
header rules, lines and patterns of at most 1,000 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from deploy_platform.contracts.errors import DeploymentFailed

__all__ = [
    "MAX_REDIRECTS",
    "MAX_HEADER_RULES",
    "MAX_LINE_LENGTH",
    "REDIRECT_STATUSES",
    "PROTECTED_HEADERS",
    "RoutingError",
    "Redirect",
    "HeaderRule",
    "Routes",
    "compile_pattern",
    "check_header",
    "match_redirect",
    "headers_for",
]

MAX_REDIRECTS = 2_000
MAX_HEADER_RULES = 100
MAX_LINE_LENGTH = 1_000
#: 200 serves the destination's file in place (a rewrite); 404 serves it with status 404.
REDIRECT_STATUSES = frozenset({200, 301, 302, 303, 307, 308, 404})
#: Headers a rule may not set: the edge derives the type, validator and framing from the
#: body itself, and the security defaults are the platform's promise to every visitor.
PROTECTED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "etag",
        "connection",
        "keep-alive",
        "upgrade",
        "trailer",
        "location",
        "server",
        "x-content-type-options",
    }
)

_NAME = r"(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+)"
_PARAM = re.compile(rf":({_NAME})([?*+]?)$")
_DEST_PARAM = re.compile(r":([A-Za-z0-9_]+)")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_FIELD_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")
# Kept literally in a Location header; everything else is percent-encoded.
_URL_SAFE = "/!$&'()*+,;=:@-._~%"


class RoutingError(DeploymentFailed):
    """A rule that cannot be used; the message names the file and line or rule."""


# -- patterns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    # regex group name -> parameter name (`splat`, `slug`, `1`)
    groups: tuple[tuple[str, str], ...]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.match(_trim(path))
        if found is None:
            return None
        return {name: found.group(group) or "" for group, name in self.groups}

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for _group, name in self.groups)


def _trim(path: str) -> str:
    return path.rstrip("/") or "/"


def compile_pattern(pattern: str, where: str, *, splat_anywhere: bool) -> _Pattern:
    """Canonical pattern -> regex over a decoded path without its trailing slash."""
    if not pattern.startswith("/") or pattern.startswith("//"):
        raise RoutingError(f"{where}: the path {pattern!r} must start with a single '/'")
    if len(pattern) > MAX_LINE_LENGTH:
        raise RoutingError(f"{where}: the path is longer than {MAX_LINE_LENGTH} characters")
    segments = _trim(pattern).split("/")[1:]
    parts: list[str] = []
    groups: list[tuple[str, str]] = []
    seen: set[str] = set()

    def group(name: str) -> str:
        if name in seen:
            raise RoutingError(f"{where}: the parameter {name!r} appears twice in {pattern!r}")
        seen.add(name)
        regex_name = f"g{len(groups)}"
        groups.append((regex_name, name))
        return regex_name

    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        param = _PARAM.match(segment)
        if segment == "":
            continue
        if param is None and ("?" in segment or "#" in segment):
            raise RoutingError(
                f"{where}: {pattern!r} has a query string or fragment; rules match paths only"
            )
        if param is not None:
            name, modifier = param.groups()
            regex_name = group(name)
            if modifier in ("*", "+"):
                if not last:
                    raise RoutingError(
                        f"{where}: {segment!r} must be the last segment of {pattern!r}"
                    )
                body = rf"(?P<{regex_name}>[^/]+(?:/[^/]+)*)"
                parts.append(rf"(?:/{body})?" if modifier == "*" else rf"/{body}")
            elif modifier == "?":
                parts.append(rf"(?:/(?P<{regex_name}>[^/]+))?")
            else:
                parts.append(rf"/(?P<{regex_name}>[^/]+)")
            continue
        if ":" in segment and re.search(rf":{_NAME}", segment):
            raise RoutingError(
                f"{where}: a placeholder must be a whole segment (/:name), not part of {segment!r}"
            )
        if "*" in segment:
            if not splat_anywhere:
                raise RoutingError(f"{where}: '*' may only end the path (/*) in {pattern!r}")
            if "splat" in seen or segment.count("*") > 1:
                raise RoutingError(f"{where}: only one '*' is allowed in {pattern!r}")
            before, after = segment.split("*")
            regex_name = group("splat")
            parts.append("/" + re.escape(before) + rf"(?P<{regex_name}>.*)" + re.escape(after))
            continue
        parts.append("/" + re.escape(segment))
    regex = "^" + ("".join(parts) or "/") + "$"
    if not parts:
        regex = "^/$"
    elif regex.startswith("^(?:/"):  # an optional first segment: the root must match too
        regex = "^(?:/|" + regex[1:-1] + ")$"
    return _Pattern(re.compile(regex), tuple(groups))


def _fill(template: str, params: Mapping[str, str]) -> str:
    """`:name` in a destination -> the captured value, percent-encoded for a URL."""

    def swap(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in params:
            return found.group(0)  # `:8080` in `https://host:8080/` is a port, not a name
        return quote(params[name], safe=_URL_SAFE.replace("%", ""))

    return _DEST_PARAM.sub(swap, template)


# -- rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    """One redirect or rewrite. `origin` says where it came from (`_redirects line 3`)."""

    source: str
    destination: str
    status: int = 301
    force: bool = False
    origin: str = ""
    _pattern: _Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = self.origin or "redirect"
        pattern = compile_pattern(self.source, where, splat_anywhere=False)
        object.__setattr__(self, "_pattern", pattern)
        _check_destination(self.destination, self.status, pattern.names, where)

    @property
    def is_rewrite(self) -> bool:
        """True when the destination's file is served in place (status 200 or 404)."""
        return self.status in (200, 404)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "status": self.status,
            "force": self.force,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class HeaderRule:
    """Headers for every path the pattern matches; `detach` removes earlier rules' headers."""

    source: str
    headers: tuple[tuple[str, str], ...] = ()
    detach: tuple[str, ...] = ()
    origin: str = ""
    _pattern: _Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = self.origin or "header rule"
        object.__setattr__(
            self, "_pattern", compile_pattern(self.source, where, splat_anywhere=True)
        )
        for name, value in self.headers:
            check_header(name, value, where)
        for name in self.detach:
            check_header(name, "", where)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "headers": [[name, value] for name, value in self.headers],
            "detach": list(self.detach),
            "origin": self.origin,
        }


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
        if len(self.headers) > MAX_HEADER_RULES:
            raise RoutingError(f"{len(self.headers)} header rules; the limit is {MAX_HEADER_RULES}")

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
        """Rebuild (and re-check) rules from `to_json`'s form; raises RoutingError."""
        try:
            redirects = tuple(
                Redirect(
                    source=str(rule["source"]),
                    destination=str(rule["destination"]),
                    status=int(rule["status"]),
                    force=bool(rule["force"]),
                    origin=str(rule.get("origin", "")),
                )
                for rule in data.get("redirects", [])
            )
            headers = tuple(
                HeaderRule(
                    source=str(rule["source"]),
                    headers=tuple((str(n), str(v)) for n, v in rule.get("headers", [])),
                    detach=tuple(str(name) for name in rule.get("detach", [])),
                    origin=str(rule.get("origin", "")),
                )
                for rule in data.get("headers", [])
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, RoutingError):
                raise
            raise RoutingError(f"stored routes are malformed: {exc!r}") from exc
        return cls(redirects, headers)


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
    used = set(_DEST_PARAM.findall(path if external else destination.split("?")[0]))
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
            f"{where}: {name} is set by the platform and cannot be changed by a rule; remove it"
        )
    if not _FIELD_VALUE.match(value) or len(value) > MAX_LINE_LENGTH:
        raise RoutingError(
            f"{where}: the value of {name} has a control character or is longer than "
            f"{MAX_LINE_LENGTH} characters"
        )


# -- matching -------------------------------------------------------------------------------


def match_redirect(
    routes: Routes, path: str, *, forced_only: bool = False
) -> tuple[Redirect, str] | None:
    """The first rule matching the decoded `path`, with its destination filled in.

    `forced_only`: the path names an existing file, so only forced rules may apply.
    """
    for rule in routes.redirects:
        if forced_only and not rule.force:
            continue
        params = rule._pattern.match(path)
        if params is not None:
            return rule, _fill(rule.destination, params)
    return None


def headers_for(routes: Routes, path: str) -> dict[str, str]:
    """Headers every matching rule sets, in order; a repeated name joins values with ', '."""
    result: dict[str, str] = {}
    lower: dict[str, str] = {}  # lowercase -> the spelling in `result`
    for rule in routes.headers:
        if rule._pattern.match(path) is None:
            continue
        for name in rule.detach:
            spelled = lower.pop(name.lower(), None)
            if spelled is not None:
                del result[spelled]
        for name, value in rule.headers:
            spelled = lower.get(name.lower())
            if spelled is None:
                lower[name.lower()] = name
                result[name] = value
            else:
                result[spelled] = f"{result[spelled]}, {value}"
    return result
