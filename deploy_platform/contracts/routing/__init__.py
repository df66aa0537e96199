"""Routing rules: the rule types, their patterns and matching (dagster-free; serve imports it).

The rules are read from `_redirects`, `_headers`, `netlify.toml` and `vercel.json` by
`deploy_platform.publish.rule_files`, which also fixes their order. Here they are
checked (`model`), stored in the manifest and matched (`matching`): the first matching
redirect wins; every matching header rule applies, in order.

Two syntaxes, one per rule (`Redirect.pages` / `HeaderRule.pages`):
  - Pages (`pages`): `_redirects` and `_headers`, parsed, matched and written exactly
    as Cloudflare Pages does; they apply before files are looked at.
  - canonical (`canonical`): netlify.toml, vercel.json and every rule stored by an
    older deployment, with Netlify's shadowing (an existing file wins unless forced).
"""

from deploy_platform.contracts.routing.canonical import compile_pattern
from deploy_platform.contracts.routing.errors import (
    MAX_DYNAMIC_REDIRECTS,
    MAX_HEADER_RULES,
    MAX_LINE_LENGTH,
    MAX_REDIRECTS,
    MAX_STATIC_REDIRECTS,
    MAX_STORED_HEADER_RULES,
    PROTECTED_HEADERS,
    RoutingError,
)
from deploy_platform.contracts.routing.matching import (
    HeaderChanges,
    RuleRequest,
    header_changes,
    headers_for,
    match_redirect,
    redirect_location,
)
from deploy_platform.contracts.routing.model import (
    PAGES_STATUSES,
    REDIRECT_STATUSES,
    HeaderRule,
    Redirect,
    Routes,
    check_header,
)
from deploy_platform.contracts.routing.pages import (
    is_dynamic,
    normalize_pathname,
    rewrite_pathname,
    validate_url,
)

__all__ = [
    "MAX_REDIRECTS",
    "MAX_STATIC_REDIRECTS",
    "MAX_DYNAMIC_REDIRECTS",
    "MAX_HEADER_RULES",
    "MAX_STORED_HEADER_RULES",
    "MAX_LINE_LENGTH",
    "REDIRECT_STATUSES",
    "PAGES_STATUSES",
    "PROTECTED_HEADERS",
    "RoutingError",
    "Redirect",
    "HeaderRule",
    "Routes",
    "RuleRequest",
    "HeaderChanges",
    "compile_pattern",
    "check_header",
    "match_redirect",
    "redirect_location",
    "header_changes",
    "headers_for",
    "is_dynamic",
    "normalize_pathname",
    "rewrite_pathname",
    "validate_url",
]
