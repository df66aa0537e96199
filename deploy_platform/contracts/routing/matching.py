"""Which rule applies to a request: the first matching redirect, every matching header rule.

Precedence, as on Cloudflare Pages for `_redirects`: rules are tried in file order and
the first that matches wins. Pages keeps the exact (static) rules that come before the
first `*` / `:name` rule in a lookup table it checks first; as those are exactly the
rules above every dynamic one, "first match in file order" gives the same answer.
Pages rules apply before files are looked at (a rule for `/about` wins over about.html);
netlify.toml keeps Netlify's shadowing (an existing file wins unless the rule is forced)
and vercel.json Vercel's (`redirects` forced, `rewrites` not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from deploy_platform.contracts.routing.canonical import CanonicalPattern, fill_canonical
from deploy_platform.contracts.routing.errors import PROTECTED_HEADERS
from deploy_platform.contracts.routing.model import Redirect, Routes
from deploy_platform.contracts.routing.pages import (
    PagesPattern,
    hostname_of,
    pages_location,
    replace_placeholders,
)

__all__ = [
    "RuleRequest",
    "HeaderChanges",
    "match_redirect",
    "redirect_location",
    "header_changes",
    "headers_for",
]

# RFC 3986 pchar minus the unreserved characters quote() always keeps.
_SEGMENT_SAFE = "/!$&'()*+,;=:@"


@dataclass(frozen=True)
class RuleRequest:
    """What rules match on.

    `path`: the decoded path (`/some page`), for canonical rules;
    `pathname`: the URL's pathname as the URL parser leaves it (`/some%20page`), for
    Pages rules; empty -> `path` percent-encoded;
    `host`: the request's host (a port is ignored); empty matches no `https://` rule.
    """

    path: str
    pathname: str = ""
    host: str = ""

    @property
    def url_path(self) -> str:
        return self.pathname or quote(self.path, safe=_SEGMENT_SAFE)

    @property
    def hostname(self) -> str:
        return hostname_of(self.host)


def _request(request: RuleRequest | str) -> RuleRequest:
    return RuleRequest(request) if isinstance(request, str) else request


def _match(pattern: CanonicalPattern | PagesPattern, request: RuleRequest) -> dict[str, str] | None:
    if isinstance(pattern, PagesPattern):
        return pattern.match(request.url_path, request.hostname)
    return pattern.match(request.path)


def match_redirect(
    routes: Routes, request: RuleRequest | str, *, forced_only: bool = False
) -> tuple[Redirect, str] | None:
    """The first rule matching `request`, with its destination filled in.

    `forced_only`: the path names an existing file, so only rules that apply before
    files (Pages rules, forced Netlify rules, Vercel redirects) may apply.
    """
    request = _request(request)
    for rule in routes.redirects:
        if forced_only and not (rule.force or rule.pages):
            continue
        params = _match(rule._pattern, request)
        if params is None:
            continue
        if rule.pages:
            return rule, replace_placeholders(rule.destination, params)
        return rule, fill_canonical(rule.destination, params)
    return None


def redirect_location(rule: Redirect, target: str, request: RuleRequest, query: str) -> str:
    """The Location header for a redirect rule's filled-in `target`.

    Pages rules: as Pages writes it (`pages_location`). Canonical rules: the target,
    with the request's query string unless the target has its own.
    """
    if rule.pages:
        return pages_location(target, request.host, query)
    if query and "?" not in target:
        return f"{target}?{query}"
    return target


@dataclass(frozen=True)
class HeaderChanges:
    """What the matching header rules do to an answer's headers.

    `set`: each replaces the answer's header of that name (the platform's defaults
    included); `unset`: lowercase names removed first (`! Name` in `_headers`).
    """

    set: dict[str, str] = field(default_factory=dict)
    unset: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.set or self.unset)

    def apply(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` (the platform's headers) with these changes; names compare case-insensitively."""
        replaced = {name.lower() for name in self.set}
        result = {
            name: value
            for name, value in base.items()
            if name.lower() not in self.unset and name.lower() not in replaced
        }
        result.update(self.set)
        return result


def header_changes(routes: Routes, request: RuleRequest | str) -> HeaderChanges:
    """Every matching rule in order: its removals, then its headers. A name set by an
    earlier rule gets the later value appended (`, `); framing headers are never touched.
    """
    request = _request(request)
    values: dict[str, tuple[str, str]] = {}  # lowercase -> (spelling, value)
    unset: set[str] = set()
    for rule in routes.headers:
        params = _match(rule._pattern, request)
        if params is None:
            continue
        for name in rule.detach:
            values.pop(name.lower(), None)
            if rule.pages:
                unset.add(name.lower())
        for name, value in rule.headers:
            lower = name.lower()
            if lower in PROTECTED_HEADERS:
                continue
            if rule.pages:
                value = replace_placeholders(value, params)
            if lower in values:
                spelled, earlier = values[lower]
                values[lower] = (spelled, f"{earlier}, {value}")
            else:
                values[lower] = (name, value)
    return HeaderChanges(dict(values.values()), frozenset(unset - PROTECTED_HEADERS))


def headers_for(routes: Routes, request: RuleRequest | str) -> dict[str, str]:
    """The headers the matching rules set (`header_changes(...).set`)."""
    return header_changes(routes, request).set
