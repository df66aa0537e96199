"""Pages rule matching (deploy_platform.contracts.routing.pages and .matching): the answers of
Cloudflare Pages, and the same answers as the Worker (edge-worker/test/rules.test.mjs runs
the cases of edge-worker/test/fixtures/rules-cases.json too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deploy_platform.contracts.routing import (
    PROTECTED_HEADERS,
    HeaderChanges,
    HeaderRule,
    Redirect,
    Routes,
    RoutingError,
    RuleRequest,
    header_changes,
    match_redirect,
    normalize_pathname,
    redirect_location,
    rewrite_pathname,
)
from deploy_platform.contracts.routing.pages import compile_pages_pattern, pages_location

CASES: dict[str, Any] = json.loads(
    (
        Path(__file__).parents[2] / "edge-worker" / "test" / "fixtures" / "rules-cases.json"
    ).read_text()
)


@pytest.mark.parametrize("group", CASES["matching"], ids=lambda g: g["rules"][0][0])
def test_pages_matching_cases(group: dict[str, Any]) -> None:
    usable = [(s, t) for s, t in group["rules"] if compile_pages_pattern(s) is not None]
    routes = Routes(
        headers=tuple(
            HeaderRule(source, ((f"x-rule-{n}", template),), pages=True)
            for n, (source, template) in enumerate(usable)
        )
    )
    for host, pathname, expected in group["requests"]:
        request = RuleRequest("/unused", pathname, host)
        assert list(header_changes(routes, request).set.values()) == expected, (host, pathname)


@pytest.mark.parametrize(("destination", "host", "query", "expected"), CASES["locations"])
def test_location_is_written_as_pages_writes_it(
    destination: str, host: str, query: str, expected: str
) -> None:
    assert pages_location(destination, host, query) == expected


@pytest.mark.parametrize(("destination", "expected"), CASES["rewrites"])
def test_a_200_rule_serves_its_destinations_path(destination: str, expected: str) -> None:
    assert rewrite_pathname(destination) == expected


@pytest.mark.parametrize(("raw", "expected"), CASES["pathnames"])
def test_request_pathname_is_the_one_the_url_parser_gives(raw: str, expected: str) -> None:
    assert normalize_pathname(raw, special=True) == expected


def test_rules_pages_ignores_never_compile_and_are_refused_when_built() -> None:
    for source in ("/x/*/y/*", "/dup/:id/:id", "/x/:1", "https://a:8080/"):
        assert compile_pages_pattern(source) is None
        with pytest.raises(RoutingError, match="can never match"):
            Redirect(source, "/b", 302, True, "_redirects line 1", pages=True)


def test_header_rules_replace_and_remove_platform_headers_but_never_framing() -> None:
    routes = Routes(
        headers=(
            HeaderRule("/*", (("x-content-type-options", "off"),), pages=True),
            HeaderRule(
                "/assets/*",
                (("cache-control", "public, max-age=60"),),
                ("referrer-policy",),
                pages=True,
            ),
            HeaderRule("/assets/:file", (("link", "</:file>; rel=preload"),), pages=True),
            HeaderRule("/*", (("link", "</font.woff2>; rel=preload"),), pages=True),
        )
    )
    changes = header_changes(routes, RuleRequest("/assets/app.js"))
    assert changes.unset == {"referrer-policy"}
    base = {
        "Cache-Control": "public, max-age=0, must-revalidate",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Content-Length": "12",
    }
    assert changes.apply(base) == {
        "Content-Length": "12",
        "x-content-type-options": "off",
        "cache-control": "public, max-age=60",
        "link": "</app.js>; rel=preload, </font.woff2>; rel=preload",
    }
    assert not header_changes(routes, RuleRequest("/nothing-here", host="x")).unset
    assert not HeaderChanges()
    assert {"content-length", "transfer-encoding", "content-encoding"} <= PROTECTED_HEADERS
    with pytest.raises(RoutingError, match="frames the body"):
        HeaderRule("/*", (("content-length", "1"),), pages=True)


def test_a_rule_set_then_removed_then_set_again_ends_with_the_last_value() -> None:
    routes = Routes(
        headers=(
            HeaderRule("/*", (("x-a", "1"),), pages=True),
            HeaderRule("/b", detach=("x-a",), pages=True),
            HeaderRule("/b", (("x-a", "3"),), pages=True),
        )
    )
    assert header_changes(routes, "/b").apply({"X-A": "platform"}) == {"x-a": "3"}


def test_pages_redirects_apply_before_files_and_match_exactly() -> None:
    routes = Routes(
        (
            Redirect("/about", "/about-us", 302, True, pages=True),
            Redirect("/a/*", "/first/:splat", 302, True, pages=True),
            Redirect("/a/b", "/second", 302, True, pages=True),
            Redirect("/netlify", "/elsewhere", 301),
        )
    )
    found = match_redirect(routes, RuleRequest("/about"), forced_only=True)
    assert found is not None and found[1] == "/about-us"
    assert match_redirect(routes, RuleRequest("/about/")) is None  # no trailing-slash folding
    # A static rule below a dynamic one is matched in file order, as Pages does.
    found = match_redirect(routes, RuleRequest("/a/b"))
    assert found is not None and found[1] == "/first/b"
    assert match_redirect(routes, RuleRequest("/netlify"), forced_only=True) is None
    found = match_redirect(routes, RuleRequest("/netlify"))
    assert found is not None
    assert redirect_location(found[0], found[1], RuleRequest("/netlify"), "q=1") == "/elsewhere?q=1"


def test_percent_encoded_rules_match_the_encoded_request_path() -> None:
    routes = Routes((Redirect("/some%20page", "/home", 301, True, pages=True),))
    # The decoded path alone is encoded again the way the URL parser writes it.
    found = match_redirect(routes, RuleRequest("/some page"))
    assert found is not None and found[1] == "/home"
    assert match_redirect(routes, RuleRequest("/some%20page")) is None  # a literal %, decoded


def test_host_rules_match_on_the_request_host_only() -> None:
    routes = Routes(
        (
            Redirect(
                "https://old.example.com/*", "https://example.com/:splat", 301, True, pages=True
            ),
        )
    )
    found = match_redirect(routes, RuleRequest("/a/b", "/a/b", "old.example.com:8080"))
    assert found is not None and found[1] == "https://example.com/a/b"
    assert match_redirect(routes, RuleRequest("/a/b", "/a/b", "example.com")) is None
    assert match_redirect(routes, RuleRequest("/a/b")) is None  # no host, no host rule


def test_pages_rules_round_trip_and_old_readers_see_an_extra_field_only() -> None:
    routes = Routes(
        (Redirect("/a", "/b#c", 302, True, "_redirects line 1", pages=True),),
        (HeaderRule("/*", (("x-a", "b"),), ("x-b",), "_headers line 1", pages=True),),
    )
    data = routes.to_json()
    assert data["redirects"][0]["pages"] is True and data["headers"][0]["pages"] is True
    assert Routes.from_json(data) == routes


def location(routes: Routes, pathname: str, query: str = "", host: str = "example.com") -> str:
    request = RuleRequest("/unused", pathname, host)
    found = match_redirect(routes, request)
    assert found is not None
    return redirect_location(found[0], found[1], request, query)


def test_pages_handler_redirect_cases() -> None:
    """pages-shared handler.test.ts: replacements, queries, line-number precedence."""
    routes = Routes(
        tuple(
            Redirect(source, destination, 301, True, pages=True)
            for source, destination in (
                ("https://fakehost/home", "https://firsthost/"),
                ("/home", "https://secondhost/"),
                ("/", "/home"),
                ("/recent", "/home?sort=updated_at"),
                ("/blog/*", "https://blog.example.com/:splat"),
                ("/products/:code/:name/*", "/products?junk=:splat&name=:name&code=:code"),
                ("/protocol-less-test", "/%2fwww.example.com/"),
            )
        )
    )
    assert location(routes, "/home", host="yetanotherhost") == "https://secondhost/"
    assert location(routes, "/home", host="fakehost") == "https://firsthost/"
    assert location(routes, "/", "sort=price") == "/home?sort=price"
    assert location(routes, "/recent", "other=query") == "/home?sort=updated_at"
    assert location(routes, "/blog/a-blog-posting") == "https://blog.example.com/a-blog-posting"
    assert location(routes, "/products/abba_562/tricycle/123abc@~!") == (
        "/products?junk=123abc@~!&name=tricycle&code=abba_562"
    )
    assert location(routes, "/protocol-less-test") == "/%2fwww.example.com/"
