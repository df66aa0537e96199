"""Routing rules: every syntax, every refusal, and matching.

Parsers: deploy_platform.publish.rule_files; types and matching: deploy_platform.contracts.routing.
"""

from __future__ import annotations

import pytest

from deploy_platform.contracts.errors import DeploymentFailed
from deploy_platform.contracts.routing import (
    MAX_HEADER_RULES,
    MAX_REDIRECTS,
    HeaderRule,
    Redirect,
    Routes,
    RoutingError,
    headers_for,
    match_redirect,
)
from deploy_platform.publish.rule_files import (
    load_routes,
    parse_headers_file,
    parse_netlify_routing,
    parse_redirects_file,
    parse_vercel_routing,
)


def target(routes: Routes, path: str, forced_only: bool = False) -> tuple[int, str] | None:
    found = match_redirect(routes, path, forced_only=forced_only)
    return None if found is None else (found[0].status, found[1])


# -- _redirects --------------------------------------------------------------------------


REDIRECTS = """\
# moved sections
/blog/*            /news/:splat        302
/users/:id/posts   /u/:id              301!
/old               https://example.com/new
/docs/:section/:page  /manual/:page/:section 308   # trailing comment
/app/*             /app/index.html     200
/gone              /missing.html       404
"""


def test_redirects_file_parses_status_force_and_origin() -> None:
    rules = parse_redirects_file(REDIRECTS)
    assert [(r.source, r.status, r.force) for r in rules] == [
        ("/blog/:splat*", 302, False),
        ("/users/:id/posts", 301, True),
        ("/old", 301, False),
        ("/docs/:section/:page", 308, False),
        ("/app/:splat*", 200, False),
        ("/gone", 404, False),
    ]
    assert rules[1].origin == "_redirects line 3"
    assert rules[4].is_rewrite and rules[5].is_rewrite and not rules[0].is_rewrite


def test_redirects_match_splats_placeholders_and_trailing_slashes() -> None:
    routes = Routes(tuple(parse_redirects_file(REDIRECTS)))
    assert target(routes, "/blog/2024/hello") == (302, "/news/2024/hello")
    assert target(routes, "/blog") == (302, "/news/")
    assert target(routes, "/users/42/posts/") == (301, "/u/42")
    assert target(routes, "/old") == (301, "https://example.com/new")
    assert target(routes, "/docs/intro/setup") == (308, "/manual/setup/intro")
    assert target(routes, "/app/settings/profile") == (200, "/app/index.html")
    assert target(routes, "/users/42") is None
    assert target(routes, "/blogger") is None
    # Captured values are percent-encoded when they go into the destination.
    assert target(routes, "/blog/a b?c") == (302, "/news/a%20b%3Fc")


def test_forced_only_skips_rules_without_the_bang() -> None:
    routes = Routes(tuple(parse_redirects_file(REDIRECTS)))
    assert target(routes, "/blog/x", forced_only=True) is None
    assert target(routes, "/users/1/posts", forced_only=True) == (301, "/u/1")


def test_first_matching_rule_wins() -> None:
    routes = Routes(tuple(parse_redirects_file("/a/* /first 302\n/a/b /second 302\n")))
    assert target(routes, "/a/b") == (302, "/first")


def test_a_port_in_an_external_destination_is_not_a_placeholder() -> None:
    routes = Routes(tuple(parse_redirects_file("/x/:id https://host:8080/y/:id 302\n")))
    assert target(routes, "/x/7") == (302, "https://host:8080/y/7")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/only-one-field\n", "expected 'from to [status]', got only"),
        ("/a /b 301 extra\n", "got 4 fields"),
        ("/store id=:id /blog/:id 301\n", "conditions (query parameters"),
        ("/a /b 301 Country=us\n", "conditions"),
        ("/a /b abc\n", "'abc' is not a status"),
        ("/a /b 418\n", "status 418 is not supported"),
        ("/a/*/b /c 301\n", "'*' may only end the path"),
        ("/a/x:id /b 301\n", "a placeholder must be a whole segment"),
        ("/a/:id/:id /b 301\n", "appears twice"),
        ("a /b 301\n", "must start with a single '/'"),
        ("//a /b 301\n", "must start with a single '/'"),
        ("https://other.example/a /b 301\n", "other domains are not supported"),
        ("/a?x=1 /b 301\n", "query string or fragment"),
        ("/a b 301\n", "must be a path starting with a single '/'"),
        ("/a //evil.example 301\n", "single '/'"),
        ("/a javascript:alert(1) 302\n", "single '/'"),
        ("/a https:// 302\n", "has no host"),
        ("/a /../etc/passwd 200\n", "'.' or '..' segment"),
        ("/a https://example.com/ 200\n", "would need a proxy"),
        ("/a /b?x=1 200\n", "remove the query string"),
        ("/a /b\\c 301\n", "backslash"),
        ("/x " + "/y" * 600 + "\n", f"longer than {1000} characters"),
    ],
)
def test_bad_redirect_lines_are_refused_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(RoutingError) as raised:
        parse_redirects_file("# header comment\n" + text)
    assert message in str(raised.value)
    assert "_redirects line 2" in str(raised.value)
    assert isinstance(raised.value, DeploymentFailed)  # fails the deployment readably


def test_too_many_redirects_are_refused() -> None:
    text = "".join(f"/r{n} /t{n} 301\n" for n in range(MAX_REDIRECTS + 1))
    with pytest.raises(RoutingError, match=f"more than {MAX_REDIRECTS} rules"):
        parse_redirects_file(text)
    assert len(parse_redirects_file(text.rsplit("/r", 1)[0])) == MAX_REDIRECTS


# -- _headers ----------------------------------------------------------------------------

HEADERS = """\
# every page
/*
  X-Frame-Options: DENY
  Referrer-Policy: no-referrer
/assets/*.js
  Cache-Control: public, max-age=31536000, immutable
  ! X-Frame-Options
/docs/:page
  Link: </style.css>; rel=preload
/*
  Link: </font.woff2>; rel=preload
"""


def test_headers_file_applies_every_matching_rule_in_order() -> None:
    routes = Routes(headers=tuple(parse_headers_file(HEADERS)))
    assert headers_for(routes, "/") == {
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Link": "</font.woff2>; rel=preload",
    }
    # `! Name` detaches what an earlier rule set.
    js = headers_for(routes, "/assets/app-3f2a.js")
    assert "X-Frame-Options" not in js
    assert js["Cache-Control"] == "public, max-age=31536000, immutable"
    # The same name from two rules: values joined, as Netlify and Pages do.
    assert headers_for(routes, "/docs/intro")["Link"] == (
        "</style.css>; rel=preload, </font.woff2>; rel=preload"
    )
    assert "Cache-Control" not in headers_for(routes, "/assets/app.css")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  X-A: b\n", "line 1: an indented header line comes before any path"),
        ("/a\n/b\n  X-A: b\n", "line 1: the path '/a' has no indented headers"),
        ("/a\n  no colon here\n", "line 2: expected 'Name: value'"),
        ("/a\n  Bad Name: x\n", "line 2: 'Bad Name' is not a valid header name"),
        ("/a\n  Content-Type: text/plain\n", "line 2: Content-Type is set by the platform"),
        ("/a\n  X-Content-Type-Options: off\n", "X-Content-Type-Options is set by the platform"),
        ("/a\n  ETag: x\n", "ETag is set by the platform"),
        ("/a\n  X-A: \x01\n", "control character"),
        ("https://x.example/*\n  X-A: b\n", "line 1: rules for other domains"),
        ("/a*b*\n  X-A: b\n", "only one '*'"),
    ],
)
def test_bad_headers_files_are_refused_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(RoutingError) as raised:
        parse_headers_file(text)
    assert message in str(raised.value)
    assert str(raised.value).startswith("_headers line")


def test_too_many_header_rules_are_refused() -> None:
    text = "".join(f"/p{n}\n  X-N: {n}\n" for n in range(MAX_HEADER_RULES + 1))
    with pytest.raises(RoutingError, match=f"more than {MAX_HEADER_RULES} header rules"):
        parse_headers_file(text)


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
        ({"headers": [{"for": "/*", "values": {"Content-Length": "1"}}]}, "set by the platform"),
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
    assert target(routes, "/a", forced_only=True) == (308, "/from-vercel")


def test_unknown_config_source_is_refused() -> None:
    with pytest.raises(RoutingError, match="from apache are not understood"):
        load_routes(config={"apache": {}})


def test_routes_round_trip_through_json_and_are_checked_again() -> None:
    routes, _warnings = load_routes(REDIRECTS, HEADERS)
    again = Routes.from_json(routes.to_json())
    assert again == routes
    assert target(again, "/blog/x") == (302, "/news/x")
    tampered = routes.to_json()
    tampered["redirects"][0]["destination"] = "//evil.example"
    with pytest.raises(RoutingError, match="single '/'"):
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
