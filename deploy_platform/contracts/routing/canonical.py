"""The canonical pattern syntax of netlify.toml, vercel.json and older deployments' rules.

  `:name`   one path segment          `:name?`  an optional segment
  `:name*`  zero or more segments     `:name+`  one or more segments (last only)
  `*`       any characters, captured as `splat` (header rules only, once)
Names are identifiers, or digits for Vercel's anonymous `(.*)` groups (`$1`).
Paths match the decoded request path case-sensitively, with a trailing slash ignored
on both sides. Destinations may use `:name` for any name the pattern captures.

`_redirects` and `_headers` rules published since Pages parity use Pages' own
syntax instead (`deploy_platform.contracts.routing.pages`); a manifest says which a rule
uses, so rules stored by older deployments keep matching as they always did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from deploy_platform.contracts.routing.errors import MAX_LINE_LENGTH, RoutingError

__all__ = ["CanonicalPattern", "compile_pattern", "fill_canonical", "DEST_PARAM"]

_NAME = r"(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+)"
_PARAM = re.compile(rf":({_NAME})([?*+]?)$")
DEST_PARAM = re.compile(r":([A-Za-z0-9_]+)")
# Kept literally in a Location header; everything else is percent-encoded.
_URL_SAFE = "/!$&'()*+,;=:@-._~"


@dataclass(frozen=True)
class CanonicalPattern:
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


def compile_pattern(pattern: str, where: str, *, splat_anywhere: bool) -> CanonicalPattern:
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
    return CanonicalPattern(re.compile(regex), tuple(groups))


def fill_canonical(template: str, params: Mapping[str, str]) -> str:
    """`:name` in a destination -> the captured value, percent-encoded for a URL."""

    def swap(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in params:
            return found.group(0)  # `:8080` in `https://host:8080/` is a port, not a name
        return quote(params[name], safe=_URL_SAFE)

    return DEST_PARAM.sub(swap, template)
