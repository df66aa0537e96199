"""Step 5a: a deployment's redirects, rewrites and header rules
(`deploy_platform.contracts.routing`).

Rules are compiled when the manifest is read (`Manifest.routes`), so they are
cached with it and a request only runs the matching.

Order, as on Netlify: a path that finds a file (`serve.paths` lookup order:
`/about` finds about.html, `/docs` docs/index.html) is served, or redirected to
the file's canonical URL, as it is unless a *forced* rule matches it; any other
path takes the first matching rule, and only then the 404.html / single-page-app
fallback. Then:
  301/302/303/307/308  a redirect to the filled-in destination; the request's query
                       string is kept unless the destination has its own
  200                  the destination's file is served in place, with 200
  404                  the destination's file is served with 404 (a custom not-found)
A rewrite is never followed by another rule (no loops), and its destination is
parsed like a request path, so it cannot name anything outside the deployment.
The destination is served without the clean-URL redirects of `serve.paths`:
`/app/index.html` (or `/app/`, `/app`) serves that file in place.

Header rules apply to the requested path (not a rewrite's destination), on
every file response; they may set Cache-Control, never the type, validator,
framing or security headers (refused at publish time, and dropped here again).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from deploy_platform.contracts.manifest import Manifest
from deploy_platform.contracts.routing import PROTECTED_HEADERS, headers_for, match_redirect
from serve.paths import Outcome, RequestPath, Resolution, find_file, parse_path, resolve

__all__ = ["RuleAction", "RuleDecision", "apply_rules", "rule_headers"]


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


def apply_rules(manifest: Manifest, path: RequestPath, query: str) -> RuleDecision:
    """What the deployment's rules make of `path` (already resolved against its files)."""
    resolution = resolve(manifest, path)
    routes = manifest.routes
    if not routes or not routes.redirects:
        return RuleDecision(RuleAction.NONE, resolution)
    exists = resolution.outcome is not Outcome.NOT_FOUND
    found = match_redirect(routes, path.key, forced_only=exists)
    if found is None:
        return RuleDecision(RuleAction.NONE, resolution)
    rule, target = found
    if not rule.is_rewrite:
        if query and "?" not in target:
            target = f"{target}?{query}"
        return RuleDecision(RuleAction.REDIRECT, resolution, rule.status, target)
    # The destination was checked at publish time; parsing it again keeps the
    # path-safety layers of serve.paths between a rule and the files.
    destination = find_file(manifest, parse_path(target))
    served = (
        Resolution(Outcome.FILE, *destination) if destination else Resolution(Outcome.NOT_FOUND)
    )
    return RuleDecision(RuleAction.SERVE, served, rule.status)


def rule_headers(manifest: Manifest, path: RequestPath) -> dict[str, str]:
    """Headers the deployment's header rules set for the requested path."""
    routes = manifest.routes
    if not routes or not routes.headers:
        return {}
    return {
        name: value
        for name, value in headers_for(routes, path.key).items()
        if name.lower() not in PROTECTED_HEADERS
    }
