"""Routing rules: redirects, rewrites and response headers (dagster-free; serve imports it).

Sources, in the order their rules are tried (the first matching redirect wins;
every matching header rule applies, in order):
  1. `_redirects` and `_headers` at the top of the published output
     (Netlify / Cloudflare Pages syntax),
  2. `netlify.toml` `[[redirects]]` and `[[headers]]`,
  3. `vercel.json` `redirects`, then `rewrites`, and `headers`.
Files in the output come first because they sit beside the pages they describe
and are what Netlify itself reads first.

Shadowing (Netlify's rule): a rule applies to a path that names an existing file
only when it is forced (`!` in `_redirects`, `force = true` in netlify.toml).
Vercel's `redirects` run before the file system, so they are forced; its
`rewrites` run after it, so they are not.

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
from collections.abc import Iterable, Mapping
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
    "parse_redirects_file",
    "parse_headers_file",
    "parse_netlify_routing",
    "parse_vercel_routing",
    "load_routes",
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


def _compile(pattern: str, where: str, *, splat_anywhere: bool) -> _Pattern:
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
        pattern = _compile(self.source, where, splat_anywhere=False)
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
        object.__setattr__(self, "_pattern", _compile(self.source, where, splat_anywhere=True))
        for name, value in self.headers:
            _check_header(name, value, where)
        for name in self.detach:
            _check_header(name, "", where)

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


def _check_header(name: str, value: str, where: str) -> None:
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


# -- _redirects and _headers ----------------------------------------------------------------


def _lines(text: str, filename: str) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_LENGTH:
            raise RoutingError(
                f"{filename} line {number}: longer than {MAX_LINE_LENGTH} characters"
            )
        yield number, line


def _netlify_path(path: str) -> str:
    """Netlify's `/*` splat -> the canonical `/:splat*`."""
    if path == "*":
        return "/:splat*"
    if path.endswith("/*"):
        return path[:-1] + ":splat*"
    return path


def parse_redirects_file(text: str, filename: str = "_redirects") -> list[Redirect]:
    """`from to [status][!]` per line; `#` starts a comment; status defaults to 301."""
    rules: list[Redirect] = []
    for number, line in _lines(text, filename):
        fields = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
        if not fields:
            continue
        where = f"{filename} line {number}"
        if len(fields) < 2:
            raise RoutingError(f"{where}: expected 'from to [status]', got only {fields[0]!r}")
        if any("=" in value and not value.startswith(("/", "http")) for value in fields[1:]):
            raise RoutingError(
                f"{where}: conditions (query parameters, Country=, Language=, Role=) are not "
                "supported; match on the path alone"
            )
        if len(fields) > 3:
            raise RoutingError(f"{where}: expected 'from to [status]', got {len(fields)} fields")
        source, destination = fields[0], fields[1]
        status_text = fields[2] if len(fields) == 3 else "301"
        force = status_text.endswith("!")
        status_text = status_text.rstrip("!")
        if not status_text.isdigit():
            raise RoutingError(f"{where}: {fields[2]!r} is not a status such as 301 or 200!")
        if source.startswith(("http://", "https://")):
            raise RoutingError(
                f"{where}: rules for other domains are not supported; start 'from' with '/'"
            )
        rules.append(
            Redirect(
                source=_netlify_path(source),
                destination=destination,
                status=int(status_text),
                force=force,
                origin=where,
            )
        )
        if len(rules) > MAX_REDIRECTS:
            raise RoutingError(f"{where}: more than {MAX_REDIRECTS} rules")
    return rules


def parse_headers_file(text: str, filename: str = "_headers") -> list[HeaderRule]:
    """A path pattern on its own line, then indented `Name: value` (or `! Name`) lines."""
    rules: list[HeaderRule] = []
    current: tuple[str, str, list[tuple[str, str]], list[str]] | None = None

    def close() -> None:
        if current is None:
            return
        source, where, headers, detach = current
        if not headers and not detach:
            raise RoutingError(f"{where}: the path {source!r} has no indented headers under it")
        rules.append(HeaderRule(source, tuple(headers), tuple(detach), where))
        if len(rules) > MAX_HEADER_RULES:
            raise RoutingError(f"{where}: more than {MAX_HEADER_RULES} header rules")

    for number, line in _lines(text, filename):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{filename} line {number}"
        if not line[0].isspace():
            close()
            if stripped.startswith(("http://", "https://")):
                raise RoutingError(
                    f"{where}: rules for other domains are not supported; start the path with '/'"
                )
            current = (_netlify_path(stripped), where, [], [])
            _compile(current[0], where, splat_anywhere=True)
            continue
        if current is None:
            raise RoutingError(
                f"{where}: an indented header line comes before any path; put the path first"
            )
        if stripped.startswith("!"):
            name = stripped[1:].strip()
            _check_header(name, "", where)
            current[3].append(name)
            continue
        name, colon, value = stripped.partition(":")
        if not colon:
            raise RoutingError(f"{where}: expected 'Name: value', got {stripped!r}")
        name, value = name.strip(), value.strip()
        _check_header(name, value, where)
        current[2].append((name, value))
    close()
    return rules


# -- netlify.toml and vercel.json -----------------------------------------------------------


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RoutingError(f"{where}: must be a table/object, not {type(value).__name__}")
    return value


def _refuse_keys(rule: Mapping[str, Any], allowed: set[str], where: str, hint: str) -> None:
    extra = sorted(set(rule) - allowed)
    if extra:
        raise RoutingError(f"{where}: {', '.join(extra)} not supported ({hint})")


def _string(rule: Mapping[str, Any], key: str, where: str) -> str:
    value = rule.get(key)
    if not isinstance(value, str) or not value:
        raise RoutingError(f"{where}: {key} must be a non-empty string")
    return value


def parse_netlify_routing(data: Mapping[str, Any], filename: str = "netlify.toml") -> Routes:
    """`[[redirects]]` (from, to, status = 301, force = false) and `[[headers]]` (for, values)."""
    redirects: list[Redirect] = []
    for index, raw in enumerate(_list(data.get("redirects"), filename, "redirects"), start=1):
        where = f"{filename} [[redirects]] #{index}"
        rule = _table(raw, where)
        _refuse_keys(rule, {"from", "to", "status", "force"}, where, "only from, to, status, force")
        status = rule.get("status", 301)
        force = rule.get("force", False)
        if not isinstance(status, int) or isinstance(status, bool):
            raise RoutingError(f"{where}: status must be a number such as 301")
        if not isinstance(force, bool):
            raise RoutingError(f"{where}: force must be true or false")
        source = _string(rule, "from", where)
        if source.startswith(("http://", "https://")):
            raise RoutingError(f"{where}: rules for other domains are not supported")
        redirects.append(
            Redirect(_netlify_path(source), _string(rule, "to", where), status, force, where)
        )
    headers: list[HeaderRule] = []
    for index, raw in enumerate(_list(data.get("headers"), filename, "headers"), start=1):
        where = f"{filename} [[headers]] #{index}"
        rule = _table(raw, where)
        _refuse_keys(rule, {"for", "values"}, where, "only for and values")
        values = _table(rule.get("values", {}), f"{where} values")
        pairs: list[tuple[str, str]] = []
        for name, value in values.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise RoutingError(f"{where}: the value of {name} must be a string")
            # A multi-line string is Netlify's way to send several values.
            text = ", ".join(part.strip() for part in str(value).splitlines() if part.strip())
            pairs.append((str(name), text))
        if not pairs:
            raise RoutingError(f"{where}: values is empty")
        headers.append(
            HeaderRule(_netlify_path(_string(rule, "for", where)), tuple(pairs), (), where)
        )
    return Routes(tuple(redirects), tuple(headers))


def _list(value: object, filename: str, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RoutingError(f"{filename}: {key} must be a list")
    return value


_VERCEL_GROUP = re.compile(r"^(:[A-Za-z_][A-Za-z0-9_]*)?\(\.\*\)$")


def _vercel_source(source: str, where: str) -> tuple[str, dict[str, str]]:
    """path-to-regexp -> canonical; also returns `$n` -> `:n` for the destination."""
    if not source.startswith("/"):
        raise RoutingError(f"{where}: source {source!r} must start with '/'")
    segments = source.split("/")
    anonymous = 0
    out: list[str] = []
    for index, segment in enumerate(segments):
        if "(" not in segment:
            out.append(segment)
            continue
        group = _VERCEL_GROUP.match(segment)
        if group is None or index != len(segments) - 1:
            raise RoutingError(
                f"{where}: {segment!r} in {source!r} is not supported: only :name, :name?, "
                ":name*, :name+ and a final (.*) or :name(.*) are"
            )
        if group.group(1):
            out.append(group.group(1) + "*")
        else:
            anonymous += 1
            out.append(f":{anonymous}*")
    return "/".join(out), {f"${n}": f":{n}" for n in range(1, anonymous + 1)}


def _vercel_destination(destination: str, dollars: Mapping[str, str], where: str) -> str:
    for name in re.findall(r"\$[0-9]+", destination):
        if name not in dollars:
            raise RoutingError(f"{where}: the destination uses {name}, which the source lacks")
    # Vercel repeats the modifier in the destination (`/new/:path*`); the value is what counts.
    destination = re.sub(r"(:[A-Za-z_][A-Za-z0-9_]*)(?:[*+]|\?(?=/|$))", r"\1", destination)
    return re.sub(r"\$([0-9]+)", r":\1", destination)


def parse_vercel_routing(data: Mapping[str, Any], filename: str = "vercel.json") -> Routes:
    """`redirects` (source, destination, permanent, statusCode), `rewrites`, `headers`."""
    for key, hint in (
        ("routes", "the legacy routes list; use redirects, rewrites and headers"),
        ("cleanUrls", "remove it; the platform always serves clean URLs: /about serves about.html"),
        ("trailingSlash", "remove it; the platform has one trailing-slash policy"),
    ):
        if key in data:
            raise RoutingError(f"{filename}: {key} is not supported ({hint})")
    unsupported = "has, missing and locale are not supported; match on the path alone"
    redirects: list[Redirect] = []
    for index, raw in enumerate(_list(data.get("redirects"), filename, "redirects")):
        where = f"{filename} redirects[{index}]"
        rule = _table(raw, where)
        _refuse_keys(rule, {"source", "destination", "permanent", "statusCode"}, where, unsupported)
        permanent = rule.get("permanent", True)
        if not isinstance(permanent, bool):
            raise RoutingError(f"{where}: permanent must be true or false")
        status = rule.get("statusCode", 308 if permanent else 307)
        if not isinstance(status, int) or status not in (301, 302, 303, 307, 308):
            raise RoutingError(f"{where}: statusCode must be 301, 302, 303, 307 or 308")
        source, dollars = _vercel_source(_string(rule, "source", where), where)
        destination = _vercel_destination(_string(rule, "destination", where), dollars, where)
        redirects.append(Redirect(source, destination, status, True, where))
    for index, raw in enumerate(_list(data.get("rewrites"), filename, "rewrites")):
        where = f"{filename} rewrites[{index}]"
        rule = _table(raw, where)
        _refuse_keys(rule, {"source", "destination"}, where, unsupported)
        source, dollars = _vercel_source(_string(rule, "source", where), where)
        destination = _vercel_destination(_string(rule, "destination", where), dollars, where)
        redirects.append(Redirect(source, destination, 200, False, where))
    headers: list[HeaderRule] = []
    for index, raw in enumerate(_list(data.get("headers"), filename, "headers")):
        where = f"{filename} headers[{index}]"
        rule = _table(raw, where)
        _refuse_keys(rule, {"source", "headers"}, where, unsupported)
        source, _dollars = _vercel_source(_string(rule, "source", where), where)
        pairs: list[tuple[str, str]] = []
        for number, item in enumerate(_list(rule.get("headers"), where, "headers")):
            entry = _table(item, f"{where}.headers[{number}]")
            name, value = entry.get("key"), entry.get("value")
            if not isinstance(name, str) or not isinstance(value, str):
                raise RoutingError(f"{where}.headers[{number}]: needs string key and value")
            pairs.append((name, value))
        if not pairs:
            raise RoutingError(f"{where}: headers is empty")
        headers.append(HeaderRule(source, tuple(pairs), (), where))
    return Routes(tuple(redirects), tuple(headers))


def load_routes(
    redirects_text: str | None = None,
    headers_text: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> Routes:
    """All of a deployment's rules, in precedence order (see the module docstring).

    `config` is `BuildPlan.routing`: `{"netlify": {...}, "vercel": {...}}`, raw.
    """
    redirects: list[Redirect] = []
    headers: list[HeaderRule] = []
    if redirects_text is not None:
        redirects += parse_redirects_file(redirects_text)
    if headers_text is not None:
        headers += parse_headers_file(headers_text)
    config = config or {}
    unknown = sorted(set(config) - {"netlify", "vercel"})
    if unknown:
        raise RoutingError(f"routing rules from {', '.join(unknown)} are not understood")
    for key, parse in (("netlify", parse_netlify_routing), ("vercel", parse_vercel_routing)):
        if key in config:
            routes = parse(_table(config[key], f"{key} routing"))
            redirects += routes.redirects
            headers += routes.headers
    return Routes(tuple(redirects), tuple(headers))


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
