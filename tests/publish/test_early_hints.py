"""Early hints: the Link header a page's <link> elements make, as Cloudflare Pages derives it."""

from __future__ import annotations

from pathlib import Path

from deploy_platform.contracts.manifest import Manifest, manifest_key
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.publish.early_hints import MAX_LINK_BYTES, link_header
from deploy_platform.storage.local import LocalObjectStore

# Pages' own case (handler.test.ts, "early hints should cache link headers").
PAGES_PAGE = """
<!DOCTYPE html>
<html>
  <body>
    <link rel="preload" as="image" href="/a.png" />
    <link rel="preload" as="image" href="/b.png" />
    <link rel="modulepreload" href="lib.js" />
    <link rel="preconnect" href="cloudflare.com" />
  </body>
</html>"""
PAGES_LINK = (
    '</a.png>; rel="preload"; as=image, </b.png>; rel="preload"; as=image, '
    '<lib.js>; rel="modulepreload", <cloudflare.com>; rel="preconnect"'
)


def test_preload_modulepreload_and_preconnect_become_one_link_header() -> None:
    assert link_header(PAGES_PAGE) == PAGES_LINK


def test_elements_with_other_attributes_or_rels_are_left_alone() -> None:
    page = """<head>
      <link rel="stylesheet" href="/site.css">
      <link rel="preload" href="/font.woff2" as="font" crossorigin>
      <link rel="preload" href="/hero.jpg" as="image" fetchpriority="high">
      <link rel="prefetch" href="/next.html">
      <link rel="icon" href="/favicon.ico">
      <link rel="preload" href="data:image/png;base64,AAAA" as="image">
      <link rel="preload" as="script">
      <link rel="preload prefetch" href="/both.js" as="script">
      <link REL="Preload" HREF="/upper.css" AS="style">
      <script>document.write('<link rel="preload" href="/in-script.js">')</script>
    </head>"""
    assert link_header(page) == (
        '</both.js>; rel="preload prefetch"; as=script, </upper.css>; rel="Preload"; as=style'
    )


def test_entities_in_href_are_decoded() -> None:
    assert link_header('<link rel="preload" href="/a.css?x=1&amp;y=2" as="style">') == (
        '</a.css?x=1&y=2>; rel="preload"; as=style'
    )


def test_values_that_cannot_sit_in_a_header_are_skipped() -> None:
    page = (
        '<link rel="preload" href="/a&#10;b.js">'  # a newline would split the header
        '<link rel="preload" href="/caf\u00e9.css">'
        '<link rel="preload" href="/x>y">'
        '<link rel="preload" href="/ok.js" as="script style">'
        '<link rel="preconnect" href="https://cdn.example">'
    )
    assert link_header(page) == '<https://cdn.example>; rel="preconnect"'


def test_no_hints_no_header_and_the_header_is_bounded() -> None:
    assert link_header("<h1>plain</h1>") is None
    many = "".join(f'<link rel="preload" href="/asset-{i:05d}.js">' for i in range(2000))
    header = link_header(many)
    assert header is not None and len(header) <= MAX_LINK_BYTES
    assert header.startswith('</asset-00000.js>; rel="preload", </asset-00001.js>')


def test_publishing_stores_each_page_link_header_in_the_manifest(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "index.html").write_text(PAGES_PAGE)
    (site / "docs" / "index.html").write_text("<h1>no hints</h1>")
    (site / "copy.html").write_text(PAGES_PAGE)  # the same body: the same header
    (site / "lib.js").write_text('// <link rel="preload" href="/not-html.js">')
    store = LocalObjectStore(tmp_path / "store")

    publish_directory(store, "abcdefghij23", site)

    manifest = Manifest.from_json(store.get_bytes(manifest_key("abcdefghij23")))
    assert manifest.files["/index.html"].headers == {"Link": PAGES_LINK}
    assert manifest.files["/copy.html"].headers == {"Link": PAGES_LINK}
    assert manifest.files["/docs/index.html"].headers == {}
    assert manifest.files["/lib.js"].headers == {}
