"""`_redirects` and `_headers` parsed as Cloudflare Pages parses them: the cases of
pages-shared's parseRedirects/parseHeaders valid and invalid tests, and ours. A bad line
never fails the deployment: it is skipped, with a warning naming its line and reason."""

from __future__ import annotations

from deploy_platform.contracts.routing import MAX_DYNAMIC_REDIRECTS, MAX_STATIC_REDIRECTS
from deploy_platform.publish.pages_rule_files import parse_headers_file, parse_redirects_file
from deploy_platform.publish.rule_files import load_routes


def redirects(text: str) -> tuple[list[tuple[str, str, int]], list[str]]:
    rules, warnings = parse_redirects_file(text)
    return [(r.source, r.destination, r.status) for r in rules], warnings


def headers(text: str) -> tuple[list[tuple[str, dict[str, str], list[str]]], list[str]]:
    rules, warnings = parse_headers_file(text)
    # Header names are case-insensitive: Pages' cases compare them lowercased.
    return [
        (r.source, {n.lower(): v for n, v in r.headers}, [n.lower() for n in r.detach])
        for r in rules
    ], warnings


def lines_of(warnings: list[str]) -> list[int]:
    return [int(w.split(" line ", 1)[1].split(":", 1)[0]) for w in warnings]


# -- _redirects: Pages' valid cases ----------------------------------------------------------


def test_single_rule_blank_lines_indentation_and_comments() -> None:
    assert redirects("/a /b 301") == ([("/a", "/b", 301)], [])
    text = "\n  # This is a comment\n  /a /b 301\n  # And one here too.\n"
    rules, warnings = parse_redirects_file(text)
    assert [(r.source, r.origin) for r in rules] == [("/a", "_redirects line 3")]
    assert warnings == []
    # A file written from an indented template string, tabs or spaces.
    assert redirects("\t/x /y\n        /z   /w   308\n")[0] == [
        ("/x", "/y", 302),
        ("/z", "/w", 308),
    ]


def test_default_status_is_302() -> None:
    assert redirects("/a /b 302\n/c /d\n")[0] == [("/a", "/b", 302), ("/c", "/d", 302)]


def test_query_strings_and_fragments_are_kept_in_to_and_dropped_from_from() -> None:
    text = (
        "/a /b?query=string 302\n/c?this=rejected /d 301\n"
        "/ext https://some.domain:1234/route?q=string#anchor\n"
        "/f /b#blah 302\n/g /b##blah-1\n/h https://example.com/b##blah-1 302\n"
    )
    assert redirects(text) == (
        [
            ("/a", "/b?query=string", 302),
            ("/c", "/d", 301),
            ("/ext", "https://some.domain:1234/route?q=string#anchor", 302),
            ("/f", "/b#blah", 302),
            ("/g", "/b##blah-1", 302),
            ("/h", "https://example.com/b##blah-1", 302),
        ],
        [],
    )


def test_proxy_rules_and_index_destinations_on_other_hosts() -> None:
    assert redirects("\t/a /b 200\n/* /foo 200\n/foo https://bar.com/index.html 302\n") == (
        [("/a", "/b", 200), ("/*", "/foo", 200), ("/foo", "https://bar.com/index.html", 302)],
        [],
    )


def test_hash_is_a_comment_only_as_a_whole_token() -> None:
    text = (
        "/blog/old /blog/post#ads 301 # moved in 2024\n"
        "/spa https://example.com/#/route\n"
        "/x /y #trailing\n"
    )
    assert redirects(text) == (
        [
            ("/blog/old", "/blog/post#ads", 301),
            ("/spa", "https://example.com/#/route", 302),
            ("/x", "/y", 302),
        ],
        [],
    )


def test_netlify_bang_is_read_as_the_status() -> None:
    assert redirects("/a /b 301!\n/c /d 200!\n")[0] == [("/a", "/b", 301), ("/c", "/d", 200)]


def test_percent_encoding_and_unescaped_characters_are_written_as_pages_writes_them() -> None:
    text = (
        "/some%20page /somewhere%20else\n/://so;`me /nons:/&@%+~{}ense\n"
        "/nah https://yeah.com\nyeah.com https://nah.com\n/caf\u00e9 /a/./b/../c\n"
    )
    assert redirects(text) == (
        [
            ("/some%20page", "/somewhere%20else", 302),
            ("/://so;%60me", "/nons:/&@%+~%7B%7Dense", 302),
            ("/nah", "https://yeah.com/", 302),
            ("/yeah.com", "https://nah.com/", 302),
            ("/caf%C3%A9", "/a/c", 302),
        ],
        [],
    )


def test_a_rule_for_another_host_is_kept() -> None:
    # Pages' parser refuses it (its matcher would apply it): we keep it, documented.
    assert redirects("https://old.example.com/* https://example.com/:splat 301\n") == (
        [("https://old.example.com/*", "https://example.com/:splat", 301)],
        [],
    )


# -- _redirects: Pages' invalid cases --------------------------------------------------------


def test_malformed_lines_are_skipped_with_their_line_numbers() -> None:
    text = (
        "\n    # Single token\n    /c\n    # Four tokens\n    /d /e 302 !important\n"
        "  /some page /somewhere else\n  https://yeah.com:8443/x /y\n"
        "  /a /b 418\n  /a /b abc\n  /c /d 404\n  /x http://insecure.example/\n"
        "  /p https://example.com/b 200\n  /q /b\\c\n  /r /b Country=us\n"
    )
    rules, warnings = redirects(text)
    assert rules == []
    assert lines_of(warnings) == [3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert "expected exactly 2 or 3 whitespace-separated tokens, got 1" in warnings[0]
    assert "got 4" in warnings[1] and "got 4" in warnings[2]
    assert "a port is not allowed" in warnings[3]
    assert (
        "valid status codes are 200, 301, 302 (default), 303, 307 and 308; got 418" in (warnings[4])
    )
    assert "got abc" in warnings[5] and "got 404" in warnings[6]
    assert "use HTTPS" in warnings[7]
    assert "proxy (200) rules can only point to paths" in warnings[8]
    assert "'\\' character" in warnings[9]
    assert warnings[0].startswith("_redirects line 3: skipped: ")


def test_duplicate_from_paths_keep_the_first_rule() -> None:
    text = "\n    # Valid entry\n    /a /b\n    /b /a\n    /a /c\n  "
    rules, warnings = redirects(text)
    assert rules == [("/a", "/b", 302), ("/b", "/a", 302)]
    assert warnings == ["_redirects line 5: skipped: a rule for /a came earlier"]


def test_infinite_loops_to_index_are_skipped() -> None:
    text = (
        "\n/* /index.html 200\n/* /index 200\n/ /index.html\n/ /index\n/* /foo/index.html\n\n"
        "/* /foo\n/foo/* /bar 200\n/ /foo\n"
    )
    rules, warnings = redirects(text)
    assert rules == [("/*", "/foo", 302), ("/foo/*", "/bar", 200), ("/", "/foo", 302)]
    assert lines_of(warnings) == [2, 3, 4, 5, 6]
    assert all("infinite loop" in w for w in warnings)


def test_long_lines_are_skipped_but_long_comments_are_fine() -> None:
    huge = "/" + "a" * 2000 + " /" + "b" * 2000 + " 301"
    text = f"\n    /a /b\n    {'#' * 2001}\n    {huge}\n"
    rules, warnings = redirects(text)
    assert rules == [("/a", "/b", 302)]
    assert warnings == ["_redirects line 4: skipped: longer than the maximum of 2000 characters"]


def test_limits_on_static_and_dynamic_rules() -> None:
    statics = "\n".join(f"/a/{i} /b/{i}" for i in range(MAX_STATIC_REDIRECTS + 50))
    dynamics = "\n".join(f"/a/{i}/* /b/{i}/:splat" for i in range(MAX_DYNAMIC_REDIRECTS + 50))
    text = f"\n# comments do not count\n{statics}\n{dynamics}\n# but are skipped lines\n"
    rules, warnings = redirects(text)
    assert len(rules) == MAX_STATIC_REDIRECTS + MAX_DYNAMIC_REDIRECTS
    assert rules[MAX_STATIC_REDIRECTS] == ("/a/0/*", "/b/0/:splat", 302)
    assert len(warnings) == 51
    assert "more than 2000 static rules" in warnings[0]
    assert warnings[-1] == (
        "_redirects line 2153: skipped with the remaining 52 lines of the file: "
        "more than 100 dynamic rules (Pages' limit)"
    )
    # Once a dynamic rule is seen, every later rule counts as dynamic.
    mixed = "/x/* /y\n" + "\n".join(f"/s{i} /t" for i in range(MAX_DYNAMIC_REDIRECTS + 5))
    rules, warnings = redirects(mixed)
    assert len(rules) == MAX_DYNAMIC_REDIRECTS and len(warnings) == 1


# -- _headers: Pages' valid cases ------------------------------------------------------------


def test_headers_single_rule_blank_lines_indentation_and_comments() -> None:
    assert headers("/a\n  Name: Value") == ([("/a", {"name": "Value"}, [])], [])
    assert headers("/a\n  !Name: Value") == ([("/a", {"!name": "Value"}, [])], [])
    assert headers("\n/a\n\nName: Value\n\n") == ([("/a", {"name": "Value"}, [])], [])
    assert headers("\n                /a\n    Name         :           Value\n") == (
        [("/a", {"name": "Value"}, [])],
        [],
    )
    text = "\n  # This is a comment\n  /a\n  # And one here too.\n  Name: Value\n"
    assert headers(text) == ([("/a", {"name": "Value"}, [])], [])


def test_headers_combine_and_unset() -> None:
    text = (
        "\n  /a\n    Set-Cookie: test=cookie; expires=never\n    Set-Cookie: another=cookie; magic!"
        "\n\n  /b\n    A: ABBA\n    B: BABA\n  /c\n  Name: Value\n  ! Place\n"
    )
    assert headers(text) == (
        [
            ("/a", {"set-cookie": "test=cookie; expires=never, another=cookie; magic!"}, []),
            ("/b", {"a": "ABBA", "b": "BABA"}, []),
            ("/c", {"name": "Value"}, ["place"]),
        ],
        [],
    )


def test_header_rules_for_hosts_and_one_rule_per_path() -> None:
    text = (
        "\n  https://example.com\n    a: a\n  https://example.com/\n    b: b\n"
        "  https://example.com/blog\n    c: c\n  /blog\n    d:d\n"
        "  https://:subdomain.example.*/path\n    e:e\n"
    )
    rules, warnings = headers(text)
    # Pages keys its rules by path: the second `https://example.com/` replaces the first.
    assert rules == [
        ("https://example.com/", {"b": "b"}, []),
        ("https://example.com/blog", {"c": "c"}, []),
        ("/blog", {"d": "d"}, []),
        ("https://:subdomain.example.*/path", {"e": "e"}, []),
    ]
    assert warnings == [
        "_headers line 2: skipped: _headers line 4 has a rule for the same path "
        "https://example.com/, which replaces this one"
    ]


def test_headers_may_replace_platform_defaults_but_not_framing() -> None:
    text = (
        "/*\n  X-Content-Type-Options: off\n  Referrer-Policy: no-referrer\n"
        "  Cache-Control: no-cache\n  Content-Type: text/plain\n  ETag: x\n"
        "  Content-Length: 1\n  Transfer-Encoding: chunked\n  ! Content-Encoding\n"
    )
    rules, warnings = headers(text)
    assert rules == [
        (
            "/*",
            {
                "x-content-type-options": "off",
                "referrer-policy": "no-referrer",
                "cache-control": "no-cache",
                "content-type": "text/plain",
                "etag": "x",
            },
            [],
        )
    ]
    assert lines_of(warnings) == [7, 8, 9]
    assert all("frames the body" in w for w in warnings)


# -- _headers: Pages' invalid cases ----------------------------------------------------------


def test_malformed_initial_lines_and_invalid_headers() -> None:
    text = "\n    # A single token before a path\n    c\n    # A header before a path\n"
    text += "    Access-Control-Allow-Origin: *\n"
    rules, warnings = headers(text)
    assert rules == []
    assert warnings == [
        "_headers line 3: skipped: expected a path beginning with a forward-slash",
        "_headers line 5: skipped: a path must come before the header "
        "(access-control-allow-origin: *)",
    ]
    text = (
        "\n    # Valid header sails through\n    /a\n      Name:       Value\n    #\n    /b\n"
        "      I'm invalid!\n"
        "      !x-content-type\n      But: I'm okay!\n      ! Content-Type: application/json\n"
    )
    rules, warnings = headers(text)
    assert rules == [("/a", {"name": "Value"}, []), ("/b", {"but": "I'm okay!"}, [])]
    assert lines_of(warnings) == [7, 8, 10]
    assert "colon-separated header pair" in warnings[0] and "colon-separated" in warnings[1]
    assert "cannot include spaces" in warnings[2]


def test_header_lines_longer_than_the_limit_are_skipped() -> None:
    huge = "a" * 1001 + ": " + "b" * 1001
    text = (
        f"\n    /a\n      Name: Value\n    {'#' * 1001}\n    /b\n      Name: Value\n      {huge}\n"
    )
    rules, warnings = headers(text)
    assert rules == [("/a", {"name": "Value"}, []), ("/b", {"name": "Value"}, [])]
    assert warnings == ["_headers line 7: skipped: longer than the maximum of 2000 characters"]


def test_header_rules_past_100_are_skipped_and_the_101st_kept_as_pages_does() -> None:
    body = "\n".join(f"/a/{i}\nx-index: {i}" for i in range(150))
    rules, warnings = headers(f"\n    # comments\n    {body}\n    # end\n  ")
    assert [r[0] for r in rules] == [f"/a/{i}" for i in range(101)]
    assert len(warnings) == 1
    assert "skipped with the remaining 100 lines of the file" in warnings[0]


def test_malformed_header_paths() -> None:
    text = (
        "\n  # Spaces should be URI encoded\n  /some page with spaces\n    valid: yup\n"
        "  /some%20page\n    valid: yup\n  /://so;`me\n    valid: yup\n"
        "  /nons:/&@%+~{}ense\n    valid: yup\n  # non-https protocols are refused\n"
        "  https://yeah.com\n    valid: yup\n"
        "  http://nah.com/blog\n    invalid: things\n  //yeah.com/blog\n    valid: things\n"
        "  /yeah\n    valid: yup\n  /yeah.com\n    valid: yup\n  nah.com\n  :\n  test:\n"
        "  /no-headers\n  /after\n    x: y\n"
    )
    rules, warnings = headers(text)
    assert [r[0] for r in rules] == [
        "/some%20page%20with%20spaces",
        "/some%20page",
        "/://so;%60me",
        "/nons:/&@%+~%7B%7Dense",
        "https://yeah.com/",
        "//yeah.com/blog",
        "/yeah",
        "/yeah.com",
        "/after",
    ]
    assert lines_of(warnings) == [14, 15, 22, 23, 24, 25]
    assert "use HTTPS" in warnings[0]
    assert "a path must come before the header (invalid: things)" in warnings[1]
    assert "colon-separated" in warnings[2]
    assert "no header name" in warnings[3] and "no header value" in warnings[4]
    assert "no headers under the path /no-headers" in warnings[5]


# -- load_routes -----------------------------------------------------------------------------


def test_load_routes_returns_every_warning_and_never_raises_for_rule_files() -> None:
    routes, warnings = load_routes("/a /b 999\n/c /d\n", "X-A: b\n/e\n  X-B: c\n")
    assert [r.source for r in routes.redirects] == ["/c"]
    assert [r.source for r in routes.headers] == ["/e"]
    assert [w.split(":", 1)[0] for w in warnings] == ["_redirects line 1", "_headers line 1"]
