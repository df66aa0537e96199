"""Early hints: the `Link` header an HTML page gets from its own `<link>` elements.

Cloudflare Pages turns `<link rel=preload|modulepreload|preconnect>` elements of
an HTML answer into a `Link` header, which Cloudflare's Early Hints then sends as
a 103 before the page. Pages' rules, kept here:
  - an element counts when its `rel` names preload, modulepreload or preconnect
    (one of its space-separated words, so `rel="preload prefetch"` counts too);
  - it must have no attribute but `rel`, `as` and `href`: anything else
    (`crossorigin`, `fetchpriority`, `media`, `data-*`) would be lost in a header,
    so the element is left alone;
  - `href` (entities decoded) must be non-empty and not a `data:` URL;
  - each becomes `<href>; rel="<rel>"`, plus `; as=<as>` when `as` is given, in
    document order, joined with `, `.
Where we differ from Pages, on purpose:
  - derived once, when publishing, and stored as the file's own header in the
    manifest (`FileEntry.headers`), so both edges send it from the first request on
    and never parse a page while serving (Pages learns it from a first answer and
    sends it from the next ones);
  - an element whose values cannot sit in a header (a control character, `<`, `>`
    or a non-ASCII character in `href`, a `"` in `rel`, an `as` that is not one
    word) is skipped, and the header stops before it would pass `MAX_LINK_BYTES`
    (proxies refuse larger headers); only the first `MAX_HTML_BYTES` of a page are
    read (the links sit in its head).
A `_headers` rule still wins: `Link: ...` replaces it, `! Link` removes it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["MAX_HTML_BYTES", "MAX_LINK_BYTES", "link_header", "link_header_for_file"]

MAX_HTML_BYTES = 2 * 1024 * 1024
MAX_LINK_BYTES = 8 * 1024
_HINT_RELS = frozenset({"preload", "modulepreload", "preconnect"})
_ALLOWED_ATTRIBUTES = frozenset({"rel", "as", "href"})
_HREF = re.compile(r"^[\x21-\x3b\x3d\x3f-\x7e]+$")  # visible ASCII but `<` and `>`
_REL = re.compile(r"^[\x20\x21\x23-\x7e]+$")  # printable ASCII but `"`
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        names = {name for name, _ in attrs}
        if not names <= _ALLOWED_ATTRIBUTES:
            return
        values = {name: value or "" for name, value in attrs}
        rel, href, kind = values.get("rel", ""), values.get("href", ""), values.get("as", "")
        if not _HINT_RELS & {word.lower() for word in rel.split()}:
            return
        if not href or href.startswith("data:"):
            return
        if not _HREF.match(href) or not _REL.match(rel) or (kind and not _TOKEN.match(kind)):
            return
        self.links.append(f'<{href}>; rel="{rel}"' + (f"; as={kind}" if kind else ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def link_header(html: str) -> str | None:
    """The `Link` value for a page's hint elements, or None when it has none."""
    collector = _LinkCollector()
    collector.feed(html)
    collector.close()
    kept: list[str] = []
    size = 0
    for link in collector.links:
        size += len(link) + (2 if kept else 0)
        if size > MAX_LINK_BYTES:
            break
        kept.append(link)
    return ", ".join(kept) or None


def link_header_for_file(path: Path) -> str | None:
    """`link_header` of an HTML file on disk (its first `MAX_HTML_BYTES`, as UTF-8)."""
    with open(path, "rb") as handle:
        head = handle.read(MAX_HTML_BYTES)
    return link_header(head.decode("utf-8", errors="replace"))
