"""Cache-Control by fingerprint, safe defaults and X-Robots-Tag by host kind, over loopback."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from serve.hosts import Site, SiteKind
from serve.robots import is_indexable
from tests.serve.test_rules import fetch
from tests.support.deployments import point_alias, write_deployment

REVALIDATE = "public, max-age=0, must-revalidate"
IMMUTABLE = "public, max-age=31536000, immutable"
SITE = {
    "/index.html": b"<h1>home</h1>",
    "/about.html": b"<h1>about</h1>",
    "/404.html": b"<h1>site 404</h1>",
    "/assets/app-3f2a1c9e.js": b"console.log(1)",
    "/static/js/main.3f2a1c9e.js": b"console.log(2)",
    "/assets/logo.svg": b"<svg/>",
    "/_next/static/chunks/page.js": b"next",
    "/vendor/jquery-3.6.0.min.js": b"jquery",
    "/page-3f2a1c9e.html": b"a hashed page",
    "/_redirects": b"/entry.js  /assets/app-3f2a1c9e.js  200\n/old  /about  301\n",
    "/_headers": (
        b"/robots/*\n  X-Robots-Tag: all\n/quiet/*\n  Referrer-Policy: no-referrer\n"
        b"/open/*\n  ! X-Content-Type-Options\n  ! Access-Control-Allow-Origin\n"
        b"/framed/*\n  X-Content-Type-Options: nosniff, sniff-me-not\n"
    ),
}


@pytest.fixture
def site_id(store: LocalObjectStore, state: PlatformState) -> str:
    """SITE, also live as production `docs` and as the preview `feature-x--docs`."""
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, SITE)
    point_alias(store, state, "docs", deployment_id)
    point_alias(store, state, "feature-x--docs", deployment_id)
    return deployment_id


@pytest.mark.parametrize(
    ("target", "cache_control"),
    [
        ("/assets/app-3f2a1c9e.js", IMMUTABLE),
        ("/static/js/main.3f2a1c9e.js", IMMUTABLE),
        ("/_next/static/chunks/page.js", IMMUTABLE),
        ("/", REVALIDATE),
        ("/about", REVALIDATE),
        ("/assets/logo.svg", REVALIDATE),
        ("/vendor/jquery-3.6.0.min.js", REVALIDATE),
        # served at a URL that is not its own: the URL may name other bytes tomorrow
        ("/entry.js", REVALIDATE),
        ("/page-3f2a1c9e", REVALIDATE),
        # a fingerprinted-looking URL answered by the 404 page: never stored
        ("/assets/app-0000aaaa1111.js", "no-store"),
    ],
)
async def test_only_fingerprinted_files_at_their_own_url_are_immutable(
    edge: TestClient[Any, Any], site_id: str, target: str, cache_control: str
) -> None:
    status, _, headers = await fetch(edge, site_id, target)
    assert status in (200, 404)
    assert headers["Cache-Control"] == cache_control


async def test_a_304_keeps_the_immutable_policy(edge: TestClient[Any, Any], site_id: str) -> None:
    _, _, headers = await fetch(edge, site_id, "/assets/app-3f2a1c9e.js")
    status, _, again = await fetch(
        edge, site_id, "/assets/app-3f2a1c9e.js", headers={"If-None-Match": headers["ETag"]}
    )
    assert (status, again["Cache-Control"]) == (304, IMMUTABLE)


async def test_safe_defaults_on_files_redirects_and_404_pages(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    for target, expected in (("/", 200), ("/about.html", 308), ("/old", 301), ("/nope", 404)):
        status, _, headers = await fetch(edge, site_id, target)
        assert status == expected
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


async def test_a_header_rule_may_choose_another_referrer_policy(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    _, _, headers = await fetch(edge, site_id, "/quiet/x")
    assert headers.getall("Referrer-Policy") == ["no-referrer"]


@pytest.mark.parametrize("target", ["/open/page", "/open/"])
async def test_a_header_rule_may_remove_a_platform_default(
    edge: TestClient[Any, Any], site_id: str, target: str
) -> None:
    status, _, headers = await fetch(edge, site_id, target)
    assert status == 404  # rules apply to the 404 page too, as on Pages
    assert "X-Content-Type-Options" not in headers
    assert "Access-Control-Allow-Origin" not in headers
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


async def test_a_header_rule_may_replace_x_content_type_options(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    _, _, headers = await fetch(edge, site_id, "/framed/x")
    assert headers.getall("X-Content-Type-Options") == ["nosniff, sniff-me-not"]


@pytest.mark.parametrize(
    ("label", "noindex"),
    [("docs", False), ("feature-x--docs", True), ("{id}", True)],
)
@pytest.mark.parametrize(
    ("target", "status"),
    [("/", 200), ("/about.html", 308), ("/old", 301), ("/nope", 404), ("/robots/x", 404)],
)
async def test_previews_and_deployment_urls_are_noindex_production_is_not(
    edge: TestClient[Any, Any],
    site_id: str,
    label: str,
    noindex: bool,
    target: str,
    status: int,
) -> None:
    got, _, headers = await fetch(edge, label.format(id=site_id), target)
    assert got == status
    robots = headers.getall("X-Robots-Tag", [])
    if noindex:
        # A site's own `X-Robots-Tag: all` rule cannot lift it on these hosts.
        assert robots == ["noindex"]
    else:
        assert robots == (["all"] if target == "/robots/x" else [])


async def test_a_preview_304_and_the_platform_404_for_its_missing_file_are_noindex(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, {"/index.html": b"spa"})
    point_alias(store, state, "main--app", deployment_id)
    _, _, headers = await fetch(edge, "main--app", "/")
    status, _, again = await fetch(
        edge, "main--app", "/", headers={"If-None-Match": headers["ETag"]}
    )
    assert (status, again["X-Robots-Tag"]) == (304, "noindex")
    status, _, headers = await fetch(edge, "main--app", "/missing.png")
    assert (status, headers["X-Robots-Tag"]) == (404, "noindex")


async def test_unknown_hosts_get_no_robots_header(edge: TestClient[Any, Any]) -> None:
    # The platform's page is the same for every host and already says noindex in HTML.
    for label in ("nobody--nowhere", "nowhere", "a.b"):
        status, body, headers = await fetch(edge, label, "/")
        assert status == 404 and b'<meta name="robots" content="noindex">' in body
        assert "X-Robots-Tag" not in headers


def test_only_production_hosts_are_indexable() -> None:
    assert is_indexable(Site(SiteKind.ALIAS, "docs"))
    assert not is_indexable(Site(SiteKind.ALIAS, "feature-x--docs"))
    assert not is_indexable(Site(SiteKind.DEPLOYMENT, "abcdefghij23"))
