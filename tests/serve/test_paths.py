"""URL path -> manifest entry: decoding once, refusing traversal, one URL per file, fallbacks."""

from __future__ import annotations

import pytest

from deploy_platform.contracts.manifest import FileEntry, Manifest
from serve.paths import (
    MAX_404_DEPTH,
    BadPath,
    Outcome,
    RequestPath,
    fallback_for,
    find_file,
    parse_path,
    resolve,
    same_origin_location,
)


def _manifest(*paths: str) -> Manifest:
    files = {p: FileEntry.for_blob(p, f"{i:064x}", 10) for i, p in enumerate(paths)}
    return Manifest(deployment="abcdefghij23", files=files)


SITE = _manifest("/index.html", "/about/index.html", "/a b.html", "/style.css", "/%2e%2e/x")


@pytest.mark.parametrize(
    ("raw", "segments", "directory"),
    [
        ("/", (), True),
        ("//", (), True),
        ("/style.css", ("style.css",), False),
        ("//about//", ("about",), True),
        ("/a%20b.html", ("a b.html",), False),
        ("/caf%C3%A9", ("café",), False),
        ("/%252e%252e/x", ("%2e%2e", "x"), False),  # decoded once: literal text remains
        ("/a%2Fb", ("a", "b"), False),
        ("/...", ("...",), False),
    ],
)
def test_paths_are_decoded_once_and_collapsed(
    raw: str, segments: tuple[str, ...], directory: bool
) -> None:
    assert parse_path(raw) == RequestPath(segments, directory)


@pytest.mark.parametrize(
    "raw",
    [
        "/..",
        "/../",
        "/a/../b",
        "/%2e%2e/",
        "/%2E%2E/secret",
        "/..%2fsecret",
        "/.%2e/secret",
        "/./index.html",
        "/%2e/index.html",
        "/%00",
        "/index.html%00.png",
        "/a%0ab",
        "/a%7fb",
        "/%c0%ae%c0%ae/",  # overlong UTF-8 for '..' is not UTF-8
        "/%ff",
        "relative",
    ],
)
def test_traversal_and_control_characters_are_refused(raw: str) -> None:
    with pytest.raises(BadPath):
        parse_path(raw)


@pytest.mark.parametrize(
    ("raw", "segments"),
    [("/a\\b", ("a\\b",)), ("/a%5cb", ("a\\b",)), ("/%5C..%5Csecret", ("\\..\\secret",))],
)
def test_a_backslash_is_an_ordinary_character(raw: str, segments: tuple[str, ...]) -> None:
    # As on Pages; and a redirect never starts with one (see below).
    assert parse_path(raw).segments == segments


def test_root_and_directories_serve_their_index() -> None:
    root = resolve(SITE, parse_path("/"))
    assert (root.outcome, root.target) == (Outcome.FILE, "/index.html")
    about = resolve(SITE, parse_path("/about/"))
    assert (about.outcome, about.target) == (Outcome.FILE, "/about/index.html")
    assert about.entry is SITE.files["/about/index.html"]


def test_a_directory_without_its_slash_redirects() -> None:
    result = resolve(SITE, parse_path("/about"))
    assert (result.outcome, result.target) == (Outcome.REDIRECT, "/about/")


def test_a_redirect_never_starts_with_two_slashes() -> None:
    # Regression guard: `//about` must not become `Location: //about/`, which a
    # browser reads as the host "about".
    result = resolve(SITE, parse_path("//about"))
    assert result.target == "/about/"


def test_redirect_locations_are_re_encoded() -> None:
    site = _manifest("/a b/index.html", "/x?y/index.html")
    assert resolve(site, parse_path("/a%20b")).target == "/a%20b/"
    assert resolve(site, parse_path("/x%3Fy")).target == "/x%3Fy/"


def test_missing_paths() -> None:
    assert resolve(SITE, parse_path("/nope")).outcome is Outcome.NOT_FOUND
    assert resolve(SITE, parse_path("/style.css/")).outcome is Outcome.NOT_FOUND
    assert resolve(SITE, parse_path("/about/index.html/")).outcome is Outcome.NOT_FOUND


def _outcome(site: Manifest, raw: str) -> tuple[str, str]:
    result = resolve(site, parse_path(raw))
    return result.outcome.value, result.target


CLEAN = _manifest(
    "/index.html",
    "/about.html",
    "/docs/index.html",
    "/docs/intro.html",
    "/both",
    "/both.html",
    "/blog.html",
    "/blog/index.html",
    "/x.html.html",
    "/..html",
    "/style.css",
)


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        # clean URLs: /P finds P.html and serves it; P.html redirects to /P
        ("/about", ("file", "/about.html")),
        ("/about.html", ("redirect", "/about")),
        ("/about/", ("redirect", "/about")),
        ("/docs/intro", ("file", "/docs/intro.html")),
        ("/docs/intro/", ("redirect", "/docs/intro")),
        # directories end with a slash
        ("/", ("file", "/index.html")),
        ("/index.html", ("redirect", "/")),
        ("/index", ("redirect", "/")),
        ("/docs", ("redirect", "/docs/")),
        ("/docs/", ("file", "/docs/index.html")),
        ("/docs/index.html", ("redirect", "/docs/")),
        ("/docs/index", ("redirect", "/docs/")),
        # /blog.html and /blog/index.html: /blog is the page, /blog/ the directory
        ("/blog", ("file", "/blog.html")),
        ("/blog/", ("file", "/blog/index.html")),
        ("/blog.html", ("redirect", "/blog")),
        # a file at /both and one at /both.html: each keeps its own URL, no loop
        ("/both", ("file", "/both")),
        ("/both.html", ("file", "/both.html")),
        ("/both/", ("redirect", "/both")),  # Pages: the slash goes, the file `both` answers
        # a clean URL is only taken where it would find the same file
        ("/x.html", ("file", "/x.html.html")),
        ("/x.html.html", ("redirect", "/x.html")),
        ("/..html", ("file", "/..html")),  # its clean URL `/.` is no URL at all
        ("/style.css", ("file", "/style.css")),
    ],
)
def test_one_url_per_file(raw: str, outcome: tuple[str, str]) -> None:
    assert _outcome(CLEAN, raw) == outcome


@pytest.mark.parametrize("key", sorted(CLEAN.files))
def test_a_redirect_is_followed_by_a_file_never_another_redirect(key: str) -> None:
    # Every spelling that finds a file leads, in at most one redirect, to an
    # answer that serves a file: no loop, no chain.
    stem = key.removesuffix(".html")
    for raw in {key, key + "/", stem, stem + "/", key.removesuffix("index.html")}:
        try:
            path = parse_path(raw)
        except BadPath:
            continue  # `/.` for /..html
        first = resolve(CLEAN, path)
        if first.outcome is not Outcome.REDIRECT:
            continue
        second = resolve(CLEAN, parse_path(first.target))
        assert second.outcome is Outcome.FILE, (raw, first.target)


# Cloudflare Pages' asset-server cases (handler.test.ts): an index.html and a page.html.
PAGES_SITE = _manifest("/index.html", "/page.html")


@pytest.mark.parametrize(
    ("raw", "location"),
    [
        ("/%2Fwww.example.com/index/", "/www.example.com/"),
        ("/%5Cwww.example.com/index/", "/www.example.com/"),
        ("/%2Fwww.example.com/%2F/index/", "/www.example.com///"),
        ("/%2fwww.example.com/%2f/index/", "/www.example.com///"),
        # Pages sends the backslash itself; a Location is a URI, so ours is encoded.
        ("/%5Cwww.example.com/%5C/index/", "/www.example.com/%5C/"),
        ("/%5cwww.example.com/%5c/index/", "/www.example.com/%5C/"),
        ("/foo/index/", "/foo/"),
        ("/index.html", "/"),
        ("/index", "/"),
        ("/page.html", "/page"),
        ("/%2F%2Fevil.example/index", "/evil.example/"),
        ("/%5C%2F%5Cevil.example/x/index", "/evil.example/x/"),
        ("/%252F%252Fevil.example/index", "/evil.example/"),  # literal `%2F` after decoding
    ],
)
def test_encoded_slashes_never_make_a_protocol_relative_redirect(raw: str, location: str) -> None:
    result = resolve(PAGES_SITE, parse_path(raw))
    assert (result.outcome, result.target) == (Outcome.REDIRECT, location)


@pytest.mark.parametrize(
    ("raw", "location"),
    [
        ("/foo/index", "/foo/"),  # whether or not foo/index.html exists
        ("/file/index", "/file/"),
        ("/foo/index/", "/foo/"),
        ("/foo/index.html", "/foo/"),
        ("/docs/index", "/docs/"),
    ],
)
def test_index_spellings_redirect_to_their_directory(raw: str, location: str) -> None:
    site = _manifest("/index.html", "/docs/index.html", "/foo/index.html")
    result = resolve(site, parse_path(raw))
    assert (result.outcome, result.target) == (Outcome.REDIRECT, location)


def test_a_file_named_index_is_served() -> None:
    site = _manifest("/index", "/a/index")
    assert _outcome(site, "/index") == ("file", "/index")
    assert _outcome(site, "/a/index") == ("file", "/a/index")


@pytest.mark.parametrize(
    "raw", ["/%09/www.example.com/%09/index/", "/%0a/evil.example/index", "/%0d%0aX:%20y/index"]
)
def test_blanks_that_a_browser_drops_are_refused(raw: str) -> None:
    # Pages answers `/%09/...` with a Location that begins `/<tab>/`; a browser drops the
    # tab and reads `//www.example.com`. We refuse every control character with 400.
    with pytest.raises(BadPath):
        parse_path(raw)


def test_find_file_never_redirects() -> None:
    # What a rewrite rule's destination uses: `/docs/index.html` is that file.
    assert find_file(CLEAN, parse_path("/docs/index.html")) == (
        "/docs/index.html",
        CLEAN.files["/docs/index.html"],
    )
    found = find_file(CLEAN, parse_path("/docs"))
    assert found is not None and found[0] == "/docs/index.html"
    assert find_file(CLEAN, parse_path("/nope")) is None


NESTED = _manifest("/index.html", "/404.html", "/a/404.html", "/a/b/404.html", "/x/index.html")


@pytest.mark.parametrize(
    ("raw", "page"),
    [
        ("/a/b/c", "/a/b/404.html"),
        ("/a/b/c/d/e", "/a/b/404.html"),
        ("/a/b/", "/a/b/404.html"),
        ("/a/b", "/a/404.html"),
        ("/a/x.css", "/a/404.html"),
        ("/x/y", "/404.html"),
        ("/nope", "/404.html"),
    ],
)
def test_the_nearest_404_html_answers_with_404(raw: str, page: str) -> None:
    fallback = fallback_for(NESTED, parse_path(raw))
    assert fallback is not None
    assert (fallback.key, fallback.status) == (page, 404)


SPA = _manifest("/index.html", "/assets/app-3f2a1c.js", "/admin/404.html")


@pytest.mark.parametrize(
    "raw",
    ["/settings/profile", "/settings/", "/route.html", "/old.HTM", "/v1.", "/assets/"],
)
def test_a_single_page_app_answers_its_routes_with_index_html(raw: str) -> None:
    fallback = fallback_for(SPA, parse_path(raw))
    assert fallback is not None
    assert (fallback.key, fallback.status) == ("/index.html", 200)


@pytest.mark.parametrize(
    "raw",
    ["/assets/app-4e5f6a7b.js", "/favicon.ico", "/x.css", "/data.json", "/.env", "/u/jane.doe"],
)
def test_a_single_page_app_does_not_answer_missing_files(raw: str) -> None:
    assert fallback_for(SPA, parse_path(raw)) is None


def test_a_nested_404_html_still_wins_in_a_single_page_app() -> None:
    for raw in ("/admin/users", "/admin/x.css"):
        fallback = fallback_for(SPA, parse_path(raw))
        assert fallback is not None
        assert (fallback.key, fallback.status) == ("/admin/404.html", 404)


def test_not_a_single_page_app() -> None:
    # A top-level 404.html means the site has real 404s; without index.html there is no app.
    assert fallback_for(_manifest("/page.html"), parse_path("/route")) is None
    with_404 = fallback_for(_manifest("/index.html", "/404.html"), parse_path("/route"))
    assert with_404 is not None and with_404.status == 404


def test_the_404_html_search_is_bounded() -> None:
    deep = "/".join(f"d{i}" for i in range(MAX_404_DEPTH + 5))
    site = _manifest("/index.html", "/404.html", f"/{deep}/404.html")
    fallback = fallback_for(site, parse_path(f"/{deep}/missing"))
    assert fallback is not None and fallback.key == "/404.html"
    shallow = "/".join(f"d{i}" for i in range(MAX_404_DEPTH))
    site = _manifest("/index.html", "/404.html", f"/{shallow}/404.html")
    fallback = fallback_for(site, parse_path(f"/{shallow}/x/y/z"))
    assert fallback is not None and fallback.key == f"/{shallow}/404.html"


def test_exact_keys_only() -> None:
    assert resolve(SITE, parse_path("/a%20b")).target == "/a b.html"
    assert resolve(SITE, parse_path("/STYLE.CSS")).outcome is Outcome.NOT_FOUND
    literal = resolve(SITE, parse_path("/%252e%252e/x"))
    assert (literal.outcome, literal.target) == (Outcome.FILE, "/%2e%2e/x")


@pytest.mark.parametrize(
    ("decoded", "location"),
    [
        # Pages' stripLeadingDoubleSlashes cases (responses.test.ts), as decoded paths
        ("/", "/"),
        ("/%2Ffoo", "/foo"),
        ("/%2ffoo", "/foo"),
        ("/%2F%2f/foo", "/foo"),
        ("/%5Cfoo", "/foo"),
        ("/%5cfoo", "/foo"),
        ("/%5C%5c/foo", "/foo"),
        ("/%2f%5c/foo", "/foo"),
        ("/\\/foo", "/foo"),
        ("%2ffoo", "/foo"),
        ("/foo//", "/foo//"),
        ("/foo//bar", "/foo//bar"),
        ("/%09foo", "/foo"),
        # later in the path, a literal `%2F` or `\` is kept, encoded
        ("/foo/%2f", "/foo/%252f"),
        ("/foo/\\/bar", "/foo/%5C/bar"),
        ("/ \u3000/a b", "/a%20b"),
    ],
)
def test_a_location_never_starts_with_two_slashes(decoded: str, location: str) -> None:
    assert same_origin_location(decoded) == location
