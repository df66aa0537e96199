"""Step 5a: a deployment's redirects, rewrites and header rules
(`deploy_platform.contracts.routing`).

Rules are compiled when the manifest is read (`Manifest.routes`), so they are
cached with it and a request only runs the matching.

Order, as on Cloudflare Pages: `_redirects` rules apply before files are looked at,
the first matching rule wins (rules are tried in file order; see
`deploy_platform.contracts.routing.matching`). netlify.toml and vercel.json rules, and
every rule of a deployment published before Pages parity, keep Netlify's shadowing:
a path that finds a file (`serve.paths` lookup order: `/about` finds about.html,
`/docs` docs/index.html) is served, or redirected to the file's canonical URL, as it
is unless a *forced* rule matches it. Only then the 404.html / single-page-app
fallback. Then:
  301/302/303/307/308  a redirect; the Location is written as Pages writes it for
                       Pages rules (`routing.pages.pages_location`: the destination's
                       query string, else the request's, then its fragment)
  200                  the destination's file is served in place, with 200
  404                  the destination's file is served with 404 (netlify.toml)
A rewrite is never followed by another rule (no loops), and its destination is
parsed like a request path, so it cannot name anything outside the deployment.
The destination is served without the clean-URL redirects of `serve.paths`:
`/app/index.html` (or `/app/`, `/app`) serves that file in place (Pages would
redirect to the clean URL and lose the rewrite; we keep it).

Header rules apply to the requested URL (not a rewrite's destination). Rules match
on the request's host too (`https://:project.example.com/*`): pass it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from deploy_platform.contracts.manifest import Manifest
from deploy_platform.contracts.routing import (
    HeaderChanges,
    RuleRequest,
    header_changes,
    match_redirect,
    normalize_pathname,
    redirect_location,
    rewrite_pathname,
)
from serve.paths import Outcome, RequestPath, Resolution, find_file, parse_path, resolve

__all__ = ["RuleAction", "RuleDecision", "apply_rules", "rule_headers", "rule_header_changes"]


class RuleAction(Enum):
    NONE = "none"  # serve the resolution as it is
    REDIRECT = "redirect"
    SERVE = "serve"  # serve `resolution` with `status` (a 200 or 404 rewrite)


@dataclass(frozen=True)
class RuleDecision:
    action: RuleAction
    resolution: Resolution
    status: int = 200
    location: str = ""


def _request(path: RequestPath, host: str, raw_path: str | None) -> RuleRequest:
    # The pathname as a URL parser leaves it, which is what Pages' rules match.
    pathname = normalize_pathname(raw_path, special=True) if raw_path else path.url()
    return RuleRequest(path.key, pathname, host)


def apply_rules(
    manifest: Manifest,
    path: RequestPath,
    query: str,
    *,
    host: str = "",
    raw_path: str | None = None,
) -> RuleDecision:
    """What the deployment's rules make of `path` (already resolved against its files).

    `host`: the request's Host; `raw_path`: the request path still percent-encoded
    (`request.rel_url.raw_path`); without it the path is encoded again from `path`.
    """
    resolution = resolve(manifest, path)
    routes = manifest.routes
    if not routes or not routes.redirects:
        return RuleDecision(RuleAction.NONE, resolution)
    exists = resolution.outcome is not Outcome.NOT_FOUND
    request = _request(path, host, raw_path)
    found = match_redirect(routes, request, forced_only=exists)
    if found is None:
        return RuleDecision(RuleAction.NONE, resolution)
    rule, target = found
    if not rule.is_rewrite:
        location = redirect_location(rule, target, request, query)
        return RuleDecision(RuleAction.REDIRECT, resolution, rule.status, location)
    # The destination was checked at publish time; parsing it again keeps the
    # path-safety layers of serve.paths between a rule and the files.
    destination = find_file(
        manifest, parse_path(rewrite_pathname(target) if rule.pages else target)
    )
    served = (
        Resolution(Outcome.FILE, *destination) if destination else Resolution(Outcome.NOT_FOUND)
    )
    return RuleDecision(RuleAction.SERVE, served, rule.status)


def rule_header_changes(
    manifest: Manifest, path: RequestPath, *, host: str = "", raw_path: str | None = None
) -> HeaderChanges:
    """What the header rules do for the requested URL: headers to set over the
    platform's (the rule wins), and `! Name` removals (`HeaderChanges.apply`)."""
    routes = manifest.routes
    if not routes or not routes.headers:
        return HeaderChanges()
    return header_changes(routes, _request(path, host, raw_path))


def rule_headers(
    manifest: Manifest, path: RequestPath, *, host: str = "", raw_path: str | None = None
) -> dict[str, str]:
    """The headers the deployment's header rules set for the requested URL."""
    return rule_header_changes(manifest, path, host=host, raw_path=raw_path).set
