"""Rule files: `_redirects`, `_headers`, `netlify.toml` and `vercel.json` read into `Routes`.

Sources, in the order their rules are tried (the first matching redirect wins;
every matching header rule applies, in order):
  1. `_redirects` and `_headers` at the top of the published output, parsed and
     matched as Cloudflare Pages does (`deploy_platform.publish.pages_rule_files`): a bad
     line is skipped with a warning, and the rules apply before files are looked at,
  2. `netlify.toml` `[[redirects]]` and `[[headers]]`,
  3. `vercel.json` `redirects`, then `rewrites`, and `headers`.
Files in the output come first because they sit beside the pages they describe
and are what Netlify itself reads first.

Shadowing (Netlify's rule, netlify.toml only): a rule applies to a path that names an
existing file only when it is forced (`force = true`).
Vercel's `redirects` run before the file system, so they are forced; its
`rewrites` run after it, so they are not.

Each syntax is translated to the canonical patterns of `deploy_platform.contracts.routing`,
which checks, stores and matches the rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from deploy_platform.contracts.routing import (
    MAX_REDIRECTS,
    MAX_STORED_HEADER_RULES,
    HeaderRule,
    Redirect,
    Routes,
    RoutingError,
)
from deploy_platform.publish.pages_rule_files import parse_headers_file, parse_redirects_file

__all__ = [
    "parse_redirects_file",
    "parse_headers_file",
    "parse_netlify_routing",
    "parse_vercel_routing",
    "load_routes",
]


def _netlify_path(path: str) -> str:
    """Netlify's `/*` splat -> the canonical `/:splat*`."""
    if path == "*":
        return "/:splat*"
    if path.endswith("/*"):
        return path[:-1] + ":splat*"
    return path


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
) -> tuple[Routes, list[str]]:
    """All of a deployment's rules, in precedence order (see the module docstring), and
    a warning for every line skipped (`_redirects line 4: ...`).

    `config` is `BuildPlan.routing`: `{"netlify": {...}, "vercel": {...}}`, raw.
    """
    warnings: list[str] = []
    redirects: list[Redirect] = []
    headers: list[HeaderRule] = []
    if redirects_text is not None:
        parsed, skipped = parse_redirects_file(redirects_text)
        redirects += parsed
        warnings += skipped
    if headers_text is not None:
        header_rules, skipped = parse_headers_file(headers_text)
        headers += header_rules
        warnings += skipped
    config = config or {}
    unknown = sorted(set(config) - {"netlify", "vercel"})
    if unknown:
        raise RoutingError(f"routing rules from {', '.join(unknown)} are not understood")
    for key, parse in (("netlify", parse_netlify_routing), ("vercel", parse_vercel_routing)):
        if key in config:
            routes = parse(_table(config[key], f"{key} routing"))
            redirects += routes.redirects
            headers += routes.headers
    if len(redirects) > MAX_REDIRECTS:
        raise RoutingError(
            f"{len(redirects)} redirect and rewrite rules in all; the limit is {MAX_REDIRECTS}"
        )
    if len(headers) > MAX_STORED_HEADER_RULES:
        raise RoutingError(
            f"{len(headers)} header rules in all; the limit is {MAX_STORED_HEADER_RULES}"
        )
    return Routes(tuple(redirects), tuple(headers)), warnings
