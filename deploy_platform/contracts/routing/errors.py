"""The error every unusable rule raises, and the limits rules are held to."""

from __future__ import annotations

from deploy_platform.contracts.errors import DeploymentFailed

__all__ = [
    "RoutingError",
    "MAX_LINE_LENGTH",
    "MAX_STATIC_REDIRECTS",
    "MAX_DYNAMIC_REDIRECTS",
    "MAX_REDIRECTS",
    "MAX_HEADER_RULES",
    "PROTECTED_HEADERS",
]

#: Pages' limits (pages-shared metadata-generator/constants.ts). A `_redirects` rule is
#: static (no `*`, no `:name`) while no dynamic rule came before it.
MAX_LINE_LENGTH = 2_000
MAX_STATIC_REDIRECTS = 2_000
MAX_DYNAMIC_REDIRECTS = 100
#: What one deployment may store in all: Pages' two buckets together.
MAX_REDIRECTS = MAX_STATIC_REDIRECTS + MAX_DYNAMIC_REDIRECTS
#: Pages refuses path lines once 100 rules are complete, so the 101st rule still gets in.
MAX_HEADER_RULES = 100
MAX_STORED_HEADER_RULES = MAX_HEADER_RULES + 1

#: Headers no rule may set or remove. A site may replace any other header, the platform's
#: defaults included (nosniff, Referrer-Policy, Cache-Control...), as on Pages. These
#: describe how the body is framed on the connection, which only the server knows: a
#: wrong Content-Length or Transfer-Encoding desynchronises the connection (request
#: smuggling through a shared proxy), and a Content-Encoding the body does not have turns
#: the page into garbage, and the negotiation of precompressed variants depends on it.
PROTECTED_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "content-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "trailer",
        "te",
    }
)


class RoutingError(DeploymentFailed):
    """A rule that cannot be used; the message names the file and line or rule."""
