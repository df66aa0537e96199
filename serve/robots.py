"""Which sites search engines are asked to leave out: `X-Robots-Tag: noindex`.

Only a project's production host (and its custom domains) is meant to be found. A branch preview
(`<branch>--<project>.D`) is work in progress, and an immutable deployment URL
(`<id>.D`) would compete with production for the same pages forever, so both
carry `X-Robots-Tag: noindex` on every answer their deployment gives: files,
304s, redirects, 404.html pages and the platform's 404 page for a missing path.
The site's own header rules cannot remove it there (they can set it anywhere).

The platform's pages for requests that reach no site (an unknown host, a
malformed path, 405, 500, 503) do not need it: they are 4xx/5xx answers, which
search engines do not index, and they already say `<meta name="robots"
content="noindex">`.
"""

from __future__ import annotations

from typing import assert_never

from serve.hosts import Site, SiteKind

__all__ = ["ROBOTS_HEADER", "is_indexable", "robots_headers"]

ROBOTS_HEADER = "X-Robots-Tag"
_NOINDEX = {ROBOTS_HEADER: "noindex"}
_PREVIEW_SEPARATOR = "--"  # `<branch-slug>--<project>`, see serve.hosts


def is_indexable(site: Site) -> bool:
    """True for a production host only; a new kind of site must be decided here."""
    match site.kind:
        case SiteKind.DEPLOYMENT:
            return False
        case SiteKind.ALIAS:
            return _PREVIEW_SEPARATOR not in site.name
        case SiteKind.DOMAIN:
            return True  # a custom domain always shows its project's production
        case _:
            assert_never(site.kind)


def robots_headers(site: Site) -> dict[str, str]:
    """The robots header every answer of `site`'s deployment carries (none for production)."""
    return {} if is_indexable(site) else dict(_NOINDEX)
