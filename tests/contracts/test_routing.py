"""Routing rules in the canonical syntax: netlify.toml, vercel.json, and the rules older
deployments stored (which must keep matching as they did). Pages' syntax (`_redirects`,
`_headers`): test_routing_pages.py and tests/publish/test_pages_rule_files.py.
"""

from __future__ import annotations

import pytest

from deploy_platform.contracts.errors import DeploymentFailed
from deploy_platform.contracts.routing import (
    MAX_REDIRECTS,
    HeaderRule,
    Redirect,
    Routes,
    RoutingError,
    header_changes,
    headers_for,
    match_redirect,
)
from deploy_platform.publish.rule_files import (
    load_routes,
    parse_netlify_routing,
    parse_vercel_routing,
)


def target(routes: Routes, path: str, forced_only: bool = False) -> tuple[int, str] | None:
    found = match_redirect(routes, path, forced_only=forced_only)
    return None if found is None else (found[0].status, found[1])


# -- rules stored by deployments published before Pages parity ------------------------------

#: A manifest's `routes` as older deployments wrote it (no `pages` field): canonical
#: patterns, Netlify's shadowing (`force`), trailing slashes ignored.
OLD_ROUTES = {
    "redirects": [
        {
            "source": "/blog/:splat*",
            "destination": "/news/:splat",
            "status": 302,
            "force": False,
            "origin": "_redirects line 2",
        },
        {
            "source": "/users/:id/posts",
            "destination": "/u/:id",
            "status": 301,
            "force": True,
            "origin": "_redirects line 3",
        },
        {
            "source": "/old",
            "destination": "https://example.com/new",
            "status": 301,
            "force": False,
            "origin": "_redirects line 4",
        },
        {
            "source": "/docs/:section/:page",
            "destination": "/manual/:page/:section",
            "status": 308,
            "force": False,
            "origin": "_redirects line 5",
        },
        {
            "source": "/app/:splat*",
            "destination": "/app/index.html",
            "status": 200,
            "force": False,
            "origin": "_redirects line 6",
        },
        {
            "source": "/gone",
            "destination": "/missing.html",
            "status": 404,
            "force": False,
            "origin": "_redirects line 7",
        },
    ],
    "headers": [
        {
            "source": "/*",
            "headers": [["X-Frame-Options", "DENY"]],
            "detach": [],
            "origin": "_headers line 2",
        },
        {
            "source": "/assets/*.js",
            "headers": [["Cache-Control", "immutable"]],
            "detach": ["X-Frame-Options"],
            "origin": "_headers line 4",
        },
    ],
}


def test_old_manifest_routes_load_and_match_as_before() -> None:
    routes = Routes.from_json(OLD_ROUTES)
    assert not any(rule.pages for rule in routes.redirects + routes.headers)  # type: ignore[operator]
    assert target(routes, "/blog/2024/hello") == (302, "/news/2024/hello")
    assert target(routes, "/blog") == (302, "/news/")
    assert target(routes, "/users/42/posts/") == (301, "/u/42")
    assert target(routes, "/old") == (301, "https://example.com/new")
    assert target(routes, "/docs/intro/setup") == (308, "/manual/setup/intro")
    assert target(routes, "/app/settings/profile") == (200, "/app/index.html")
    assert target(routes, "/gone") == (404, "/missing.html")
    assert target(routes, "/users/42") is None
    # Captured values are percent-encoded when they go into the destination.
    assert target(routes, "/blog/a b?c") == (302, "/news/a%20b%3Fc")
    # Netlify's shadowing: only forced rules apply to a path that names a file.
    assert target(routes, "/blog/x", forced_only=True) is None
    assert target(routes, "/users/1/posts", forced_only=True) == (301, "/u/1")
    assert headers_for(routes, "/") == {"X-Frame-Options": "DENY"}
    assert headers_for(routes, "/assets/a.js") == {"Cache-Control": "immutable"}
    # The stored form is written back unchanged: no `pages` field appears.
    assert Routes.from_json(routes.to_json()).to_json() == OLD_ROUTES


def test_a_port_in_an_external_destination_is_not_a_placeholder() -> None:
    routes = Routes((Redirect("/x/:id", "https://host:8080/y/:id", 302),))
    assert target(routes, "/x/7") == (302, "https://host:8080/y/7")


@pytest.mark.parametrize(
    ("source", "destination", "status", "message"),
    [
        ("/a", "/b", 418, "status 418 is not supported"),
        ("/a/*/b", "/c", 301, "'*' may only end the path"),
        ("/a/x:id", "/b", 301, "a placeholder must be a whole segment"),
        ("/a/:id/:id", "/b", 301, "appears twice"),
        ("a", "/b", 301, "must start with a single '/'"),
        ("/a?x=1", "/b", 301, "query string or fragment"),
        ("/a", "//evil.example", 301, "single '/'"),
        ("/a", "javascript:alert(1)", 302, "single '/'"),
        ("/a", "https://", 302, "has no host"),
        ("/a", "/../etc/passwd", 200, "'.' or '..' segment"),
        ("/a", "https://example.com/", 200, "would need a proxy"),
        ("/a", "/b?x=1", 200, "remove the query string"),
        ("/a", "/b\\c", 301, "backslash"),
    ],
)
def test_bad_canonical_rules_are_refused(
    source: str, destination: str, status: int, message: str
) -> None:
    with pytest.raises(RoutingError) as raised:
        Redirect(source, destination, status, origin="netlify.toml [[redirects]] #1")
    assert message in str(raised.value)
    assert str(raised.value).startswith("netlify.toml [[redirects]] #1")
    assert isinstance(raised.value, DeploymentFailed)  # fails the deployment readably


def test_canonical_header_rules_detach_and_join() -> None:
    routes = Routes(
        headers=(
            HeaderRule("/*", (("X-Frame-Options", "DENY"), ("Link", "</a>"))),
            HeaderRule("/assets/*.js", (("Cache-Control", "x"),), ("X-Frame-Options",)),
            HeaderRule("/*", (("Link", "</b>"),)),
        )
    )
    assert headers_for(routes, "/") == {"X-Frame-Options": "DENY", "Link": "</a>, </b>"}
    assert headers_for(routes, "/assets/a-1.js") == {"Link": "</a>, </b>", "Cache-Control": "x"}
    # A canonical `detach` removes what earlier rules set, never the platform's headers.
    assert not header_changes(routes, "/assets/a-1.js").unset


# -- netlify.toml ------------------------------------------------------------------------


def test_netlify_redirects_and_headers() -> None:
    routes = parse_netlify_routing(
        {
            "redirects": [
                {"from": "/old/*", "to": "/new/:splat"},
                {"from": "/*", "to": "/index.html", "status": 200},
                {"from": "/forced", "to": "/elsewhere", "status": 302, "force": True},
            ],
            "headers": [
                {"for": "/*", "values": {"X-Frame-Options": "DENY", "Link": "</a>\n</b>"}},
            ],
        }
    )
    assert target(routes, "/old/x/y") == (301, "/new/x/y")
    assert target(routes, "/anything") == (200, "/index.html")
    assert target(routes, "/forced", forced_only=True) == (302, "/elsewhere")
    assert routes.redirects[0].origin == "netlify.toml [[redirects]] #1"
    assert headers_for(routes, "/x") == {"X-Frame-Options": "DENY", "Link": "</a>, </b>"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"redirects": {"from": "/a"}}, "netlify.toml: redirects must be a list"),
        ({"redirects": ["x"]}, "[[redirects]] #1: must be a table"),
        ({"redirects": [{"to": "/b"}]}, "#1: from must be a non-empty string"),
        ({"redirects": [{"from": "/a", "to": "/b", "status": "301"}]}, "status must be a number"),
        ({"redirects": [{"from": "/a", "to": "/b", "force": "yes"}]}, "force must be true"),
        (
            {"redirects": [{"from": "/a", "to": "/b", "conditions": {"Country": ["us"]}}]},
            "#1: conditions not supported",
        ),
        ({"redirects": [{"from": "/a", "to": "/b", "query": {"id": ":id"}}]}, "query not"),
        ({"headers": [{"for": "/*", "values": {}}]}, "[[headers]] #1: values is empty"),
        ({"headers": [{"for": "/*", "values": {"X-A": ["a"]}}]}, "value of X-A must be a"),
        ({"headers": [{"for": "/*", "values": {"Content-Length": "1"}}]}, "frames the body"),
    ],
)
def test_bad_netlify_rules_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(RoutingError) as raised:
        parse_netlify_routing(data)
    assert message in str(raised.value)


# -- vercel.json -------------------------------------------------------------------------


def test_vercel_redirects_rewrites_and_headers() -> None:
    routes = parse_vercel_routing(
        {
            "redirects": [
                {"source": "/old/:path*", "destination": "/new/:path*"},
                {"source": "/tmp/:slug", "destination": "/t/:slug", "permanent": False},
                {"source": "/code", "destination": "https://example.com", "statusCode": 301},
                {"source": "/legacy/(.*)", "destination": "/modern/$1"},
            ],
            "rewrites": [{"source": "/app/:rest*", "destination": "/app.html"}],
            "headers": [
                {"source": "/assets/(.*)", "headers": [{"key": "Cache-Control", "value": "x"}]}
            ],
        }
    )
    assert target(routes, "/old/a/b") == (308, "/new/a/b")
    assert target(routes, "/old") == (308, "/new/")
    assert target(routes, "/tmp/x") == (307, "/t/x")
    assert target(routes, "/code") == (301, "https://example.com")
    assert target(routes, "/legacy/p/q") == (308, "/modern/p/q")
    assert target(routes, "/app/settings") == (200, "/app.html")
    # Redirects run before the file system on Vercel, rewrites after it.
    assert target(routes, "/old/a", forced_only=True) == (308, "/new/a")
    assert target(routes, "/app/settings", forced_only=True) is None
    assert headers_for(routes, "/assets/a.js") == {"Cache-Control": "x"}
    assert routes.redirects[3].origin == "vercel.json redirects[3]"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"routes": []}, "routes is not supported (the legacy routes list"),
        ({"cleanUrls": True}, "cleanUrls is not supported"),
        ({"trailingSlash": False}, "trailingSlash is not supported"),
        ({"redirects": [{"source": "/a", "destination": "/b", "has": []}]}, "has not supported"),
        ({"rewrites": [{"source": "/a", "destination": "/b", "missing": []}]}, "missing not"),
        ({"redirects": [{"source": "/a", "destination": "/b", "permanent": 1}]}, "permanent"),
        ({"redirects": [{"source": "/a", "destination": "/b", "statusCode": 200}]}, "statusCode"),
        ({"redirects": [{"source": "/(\\d+)", "destination": "/b"}]}, "is not supported: only"),
        ({"redirects": [{"source": "/(.*)/x", "destination": "/b"}]}, "is not supported: only"),
        ({"redirects": [{"source": "a", "destination": "/b"}]}, "must start with '/'"),
        ({"redirects": [{"source": "/a", "destination": "/b/$2"}]}, "uses $2, which the source"),
        (
            {"rewrites": [{"source": "/api/(.*)", "destination": "https://api.example/$1"}]},
            "rewrites[0]: a 200 rewrite to another site",
        ),
        ({"headers": [{"source": "/a", "headers": []}]}, "headers[0]: headers is empty"),
        ({"headers": [{"source": "/a", "headers": [{"key": "X"}]}]}, "needs string key"),
    ],
)
def test_bad_vercel_rules_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(RoutingError) as raised:
        parse_vercel_routing(data)
    assert message in str(raised.value)
    assert str(raised.value).startswith("vercel.json")


# -- all together ----------------------------------------------------------------------------


def test_load_routes_orders_files_then_netlify_then_vercel() -> None:
    routes, _warnings = load_routes(
        "/a /from-file 302\n",
        "/*\n  X-Source: file\n",
        {
            "vercel": {"redirects": [{"source": "/a", "destination": "/from-vercel"}]},
            "netlify": {
                "redirects": [{"from": "/a", "to": "/from-netlify"}],
                "headers": [{"for": "/*", "values": {"X-Source": "netlify"}}],
            },
        },
    )
    assert [r.destination for r in routes.redirects] == [
        "/from-file",
        "/from-netlify",
        "/from-vercel",
    ]
    assert target(routes, "/a") == (302, "/from-file")
    assert headers_for(routes, "/") == {"X-Source": "file, netlify"}
    # `_redirects` rules apply before files, as on Pages; netlify.toml's unforced ones do not.
    assert target(routes, "/a", forced_only=True) == (302, "/from-file")
    assert [r.pages for r in routes.redirects] == [True, False, False]


def test_unknown_config_source_is_refused() -> None:
    with pytest.raises(RoutingError, match="from apache are not understood"):
        load_routes(config={"apache": {}})


def test_routes_round_trip_through_json_and_are_checked_again() -> None:
    routes, _warnings = load_routes(
        "/blog/* /news/:splat 302\n",
        "/*\n  X-A: b\n",
        {"netlify": {"redirects": [{"from": "/n/*", "to": "/m/:splat"}]}},
    )
    again = Routes.from_json(routes.to_json())
    assert again == routes
    assert target(again, "/blog/x") == (302, "/news/x")
    assert target(again, "/n/x") == (301, "/m/x")
    tampered = routes.to_json()
    tampered["redirects"][1]["destination"] = "//evil.example"
    with pytest.raises(RoutingError, match="single '/'"):
        Routes.from_json(tampered)
    tampered = routes.to_json()
    tampered["redirects"][0]["destination"] = "/\\evil.example"
    with pytest.raises(RoutingError, match="'\\\\' character"):
        Routes.from_json(tampered)
    with pytest.raises(RoutingError, match="stored routes are malformed"):
        Routes.from_json({"redirects": [{"source": "/a"}]})


def test_empty_routes_are_false_and_limits_hold_for_built_routes() -> None:
    assert not Routes()
    assert Routes(headers=(HeaderRule("/a", (("X-A", "b"),)),))
    many = tuple(Redirect(f"/r{n}", "/t") for n in range(MAX_REDIRECTS + 1))
    with pytest.raises(RoutingError, match=f"the limit is {MAX_REDIRECTS}"):
        Routes(many)


def test_root_and_optional_segments_match() -> None:
    routes = Routes(
        (
            Redirect("/lang/:code?", "/l/:code", 302),
            Redirect("/", "/home", 302),
        )
    )
    assert target(routes, "/lang") == (302, "/l/")
    assert target(routes, "/lang/fr") == (302, "/l/fr")
    assert target(routes, "/") == (302, "/home")
    catch_all = Routes((Redirect("/:splat*", "/spa.html", 200),))
    assert target(catch_all, "/") == (200, "/spa.html")
    assert target(catch_all, "/deep/er") == (200, "/spa.html")
