"""One URL per file over a real loopback server: clean URLs, trailing slashes, rules."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.storage.local import LocalObjectStore
from tests.serve.helpers import raw_request
from tests.serve.test_rules import fetch
from tests.support.deployments import write_deployment

SITE = {
    "/index.html": b"<h1>home</h1>",
    "/about.html": b"<h1>about</h1>",
    "/docs/index.html": b"<h1>docs</h1>",
    "/docs/intro.html": b"<h1>intro</h1>",
    "/x": b"the file named x",
    "/x.html": b"the file named x.html",
    "/404.html": b"<h1>site 404</h1>",
}


@pytest.fixture
def site_id(store: LocalObjectStore) -> str:
    """A deployment of SITE (no rules)."""
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, SITE)
    return deployment_id


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/", SITE["/index.html"]),
        ("/about", SITE["/about.html"]),
        ("/docs/", SITE["/docs/index.html"]),
        ("/docs/intro", SITE["/docs/intro.html"]),
    ],
)
async def test_canonical_urls_are_served(
    edge: TestClient[Any, Any], site_id: str, target: str, body: bytes
) -> None:
    status, got, headers = await fetch(edge, site_id, target)
    assert (status, got) == (200, body)
    assert headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/about.html", "/about"),
        ("/about/", "/about"),
        ("/docs", "/docs/"),
        ("/docs/index.html", "/docs/"),
        ("/docs/intro.html", "/docs/intro"),
        ("/docs/intro/", "/docs/intro"),
        ("/index.html", "/"),
        ("/index", "/"),
        ("/about.html?utm=x&y=%20z", "/about?utm=x&y=%20z"),
        ("/docs?tab=2", "/docs/?tab=2"),
        ("/about/?q=1", "/about?q=1"),
    ],
)
async def test_every_other_spelling_redirects_with_308_keeping_the_query(
    edge: TestClient[Any, Any], site_id: str, target: str, location: str
) -> None:
    status, body, headers = await fetch(edge, site_id, target)
    assert (status, headers["Location"], body) == (308, location, b"")
    # The redirect leads to the file itself, never to another redirect.
    status, _, _ = await fetch(edge, site_id, location)
    assert status == 200


async def test_a_redirect_never_leaves_the_host(edge: TestClient[Any, Any], site_id: str) -> None:
    for target in ("//about.html", "//docs", "///docs//index.html"):
        response = await raw_request(edge, target, f"{site_id}.localhost")
        assert response.status == 308
        assert response.headers["Location"].startswith("/")
        assert not response.headers["Location"].startswith("//")


async def test_a_file_and_the_same_name_with_html_both_stay_reachable(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    # `/x.html` would redirect to `/x`, but `/x` is another file: no redirect, no loop.
    assert (await fetch(edge, site_id, "/x"))[:2] == (200, SITE["/x"])
    assert (await fetch(edge, site_id, "/x.html"))[:2] == (200, SITE["/x.html"])


async def test_a_path_with_a_slash_and_no_directory(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    assert (await fetch(edge, site_id, "/nope/"))[:2] == (404, SITE["/404.html"])
    # As on Pages: `/x/` finds x.html and drops the slash; `/x` is the file x.
    status, _, headers = await fetch(edge, site_id, "/x/")
    assert (status, headers["Location"]) == (308, "/x")


RULES_SITE = {
    "/index.html": b"<h1>home</h1>",
    "/app/index.html": b"<h1>app shell</h1>",
    "/shop.html": b"<h1>shop</h1>",
    "/legacy.html": b"<h1>legacy</h1>",
    "/_redirects": b"""\
/app/:page       /app/index.html   200
/store/*         /shop.html        200
/legacy.html     /new              301!
/old             /about.html       301
""",
}


@pytest.fixture
def rules_id(store: LocalObjectStore) -> str:
    """A deployment of RULES_SITE, whose `_redirects` rewrite to `.html` and `index.html` files."""
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, RULES_SITE)
    return deployment_id


async def test_a_rewrite_to_index_html_serves_it_rather_than_redirecting(
    edge: TestClient[Any, Any], rules_id: str
) -> None:
    # (`/app/* /app/index.html 200` would be skipped as a loop, as Pages does.)
    for target in ("/app/settings", "/app/profile?x=1"):
        status, body, headers = await fetch(edge, rules_id, target)
        assert (status, body) == (200, RULES_SITE["/app/index.html"]), target
        assert "Location" not in headers
    status, body, _ = await fetch(edge, rules_id, "/store/hats")
    assert (status, body) == (200, RULES_SITE["/shop.html"])


async def test_a_forced_rule_wins_over_the_clean_url_redirect(
    edge: TestClient[Any, Any], rules_id: str
) -> None:
    status, _, headers = await fetch(edge, rules_id, "/legacy.html")
    assert (status, headers["Location"]) == (301, "/new")
    # The rule names `/legacy.html` only: the clean URL still serves the file.
    assert (await fetch(edge, rules_id, "/legacy"))[:2] == (200, RULES_SITE["/legacy.html"])


async def test_a_rule_for_a_missing_path_still_runs(
    edge: TestClient[Any, Any], rules_id: str
) -> None:
    status, _, headers = await fetch(edge, rules_id, "/old?ref=1")
    assert (status, headers["Location"]) == (301, "/about.html?ref=1")
