"""The answers Cloudflare Pages gives, through the real edge-origin over loopback.

The request/answer cases come from Pages' asset server (packages/pages-shared,
handler.test.ts and responses.test.ts in cloudflare/workers-sdk).
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.storage.local import LocalObjectStore
from tests.serve.helpers import raw_request
from tests.serve.test_rules import fetch
from tests.support.deployments import write_deployment

HINTED = (
    b'<!doctype html><head><link rel="preload" as="style" href="/site.css">'
    b'<link rel="modulepreload" href="/app.js"><link rel="preconnect" href="https://cdn.example">'
    b'<link rel="preload" href="/font.woff2" as="font" crossorigin></head><h1>hi</h1>'
)
SITE = {
    "/index.html": b"<h1>index page</h1>",
    "/page.html": b"<h1>some page</h1>",
    "/hinted.html": HINTED,
    "/site.css": b"h1 {}",
    "/_redirects": b"/here /there 301\n/proxied /page 200\n",
    "/_headers": b"/*\n  X-Unwanted-Header: foo\n  Cache-Control: public, max-age=604800\n",
}


# Pages' "internal asset error doesn't set headers" site: no index.html, no 404.html.
BARE = {
    "/asset": b"some asset",
    "/_redirects": b"/here /there 301\n",
    "/_headers": b"/*\n  X-Unwanted-Header: foo\n  Cache-Control: public, max-age=604800\n",
}


@pytest.fixture
def site_id(store: LocalObjectStore) -> str:
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, SITE)
    return deployment_id


@pytest.fixture
def bare_id(store: LocalObjectStore) -> str:
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, BARE)
    return deployment_id


async def location_of(edge: TestClient[Any, Any], site_id: str, target: str) -> tuple[int, str]:
    response = await raw_request(edge, target, f"{site_id}.localhost")
    return response.status, response.headers.get("Location", "")


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/%2Fwww.example.com/index/", "/www.example.com/"),
        ("/%5Cwww.example.com/index/", "/www.example.com/"),
        ("/%2Fwww.example.com/%2F/index/", "/www.example.com///"),
        ("/%2fwww.example.com/%2f/index/", "/www.example.com///"),
        ("/%5Cwww.example.com/%5C/index/", "/www.example.com/%5C/"),  # Pages: a raw `\`
        ("/foo/index/", "/foo/"),
        ("/\\\\evil.example/index", "/evil.example/"),
        ("/%2F%2Fevil.example/x.html/index", "/evil.example/x.html/"),
    ],
)
async def test_encoded_slash_and_backslash_spellings_redirect_on_this_host(
    edge: TestClient[Any, Any], site_id: str, target: str, location: str
) -> None:
    assert await location_of(edge, site_id, target) == (308, location)


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/index.html", "/"),
        ("/index", "/"),
        ("/page.html", "/page"),
        ("/page/", "/page"),
        ("/foo/index", "/foo/"),  # no foo/index.html: Pages redirects all the same
        ("/file/index", "/file/"),
        ("/foo/index.html?x=1", "/foo/index.html?x=1"),  # no such file: not found
        ("/page.html?a=1&b=%20c", "/page?a=1&b=%20c"),
    ],
)
async def test_html_spellings_redirect_as_on_pages(
    edge: TestClient[Any, Any], site_id: str, target: str, location: str
) -> None:
    status, got = await location_of(edge, site_id, target)
    if location == target:
        assert (status, got) == (200, "")  # a single-page app: index.html answers
    else:
        assert (status, got) == (308, location)


async def test_the_page_itself_is_served(edge: TestClient[Any, Any], site_id: str) -> None:
    assert (await fetch(edge, site_id, "/page"))[:2] == (200, SITE["/page.html"])
    assert (await fetch(edge, site_id, "/proxied"))[:2] == (200, SITE["/page.html"])


@pytest.mark.parametrize(
    ("target", "status"),
    [("/", 200), ("/page.html", 308), ("/here", 301), ("/missing.css", 404), ("/x", 200)],
)
async def test_every_answer_of_a_site_allows_any_origin(
    edge: TestClient[Any, Any], site_id: str, target: str, status: int
) -> None:
    got, _, headers = await fetch(edge, site_id, target)
    assert got == status
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_a_304_allows_any_origin_too(edge: TestClient[Any, Any], site_id: str) -> None:
    _, _, headers = await fetch(edge, site_id, "/site.css")
    status, _, again = await fetch(
        edge, site_id, "/site.css", headers={"If-None-Match": headers["ETag"]}
    )
    assert (status, again["Access-Control-Allow-Origin"]) == (304, "*")


async def test_the_platform_404_page_has_a_referrer_policy(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    bare = new_deployment_id()
    write_deployment(store, bare, {"/index.css": b"no pages here"})
    status, body, headers = await fetch(edge, bare, "/missing")
    assert status == 404 and b"Not found" in body
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Cache-Control"] == "no-store"


async def test_header_rules_apply_to_404_and_redirect_answers(
    edge: TestClient[Any, Any], bare_id: str, site_id: str
) -> None:
    # Pages' "404 doesn't skip headers" and "301 doesn't skip headers".
    for target, status in (("/404", 404), ("/here", 301), ("/asset", 200)):
        got, _, headers = await fetch(edge, bare_id, target)
        assert (got, headers.get("X-Unwanted-Header")) == (status, "foo"), target
    got, _, headers = await fetch(edge, site_id, "/page.html")
    assert (got, headers.get("X-Unwanted-Header")) == (308, "foo")


async def test_a_404_drops_a_rule_cache_control_and_is_never_stored(
    edge: TestClient[Any, Any], bare_id: str
) -> None:
    # Pages' "404 removes user-controlled cache-control"; a 200 keeps the rule's value.
    _, _, missing = await fetch(edge, bare_id, "/404")
    assert missing.getall("Cache-Control") == ["no-store"]
    _, _, found = await fetch(edge, bare_id, "/asset")
    assert found.getall("Cache-Control") == ["public, max-age=604800"]


async def test_an_html_page_carries_its_early_hints(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, body, headers = await fetch(edge, site_id, "/hinted")
    assert (status, body) == (200, HINTED)
    # The font preload has `crossorigin`: left alone, as Pages does.
    assert headers.getall("Link") == [
        '</site.css>; rel="preload"; as=style, </app.js>; rel="modulepreload", '
        '<https://cdn.example>; rel="preconnect"'
    ]
    _, _, plain = await fetch(edge, site_id, "/page")
    assert "Link" not in plain


async def test_a_header_rule_replaces_or_removes_the_early_hints(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    site = new_deployment_id()
    write_deployment(
        store,
        site,
        {
            "/index.html": HINTED,
            "/other.html": HINTED,
            "/_headers": b"/other\n  Link: </only.css>; rel=preload; as=style\n",
        },
    )
    _, _, own = await fetch(edge, site, "/")
    assert own["Link"].startswith('</site.css>; rel="preload"')
    _, _, replaced = await fetch(edge, site, "/other")
    assert replaced.getall("Link") == ["</only.css>; rel=preload; as=style"]


async def test_a_404_page_carries_no_early_hints(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    site = new_deployment_id()
    write_deployment(store, site, {"/404.html": HINTED, "/hinted.html": HINTED})
    status, body, headers = await fetch(edge, site, "/missing")
    assert (status, body) == (404, HINTED)
    assert "Link" not in headers
    assert "Link" in (await fetch(edge, site, "/hinted"))[2]
