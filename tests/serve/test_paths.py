"""URL path -> manifest entry: decoding once, refusing traversal, index and redirects."""

from __future__ import annotations

import pytest

from deploy_platform.manifest import FileEntry, Manifest
from serve.paths import BadPath, Outcome, RequestPath, not_found_page, parse_path, resolve


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
        "/a\\b",
        "/..\\secret",
        "/a%5cb",
        "/%5C..%5Csecret",
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


def test_missing_paths_and_the_own_404_page() -> None:
    assert resolve(SITE, parse_path("/nope")).outcome is Outcome.NOT_FOUND
    assert resolve(SITE, parse_path("/style.css/")).outcome is Outcome.NOT_FOUND
    assert resolve(SITE, parse_path("/index")).outcome is Outcome.NOT_FOUND
    assert not_found_page(SITE) is None
    with_page = _manifest("/index.html", "/404.html")
    assert not_found_page(with_page) is with_page.files["/404.html"]


def test_exact_keys_only() -> None:
    assert resolve(SITE, parse_path("/a%20b.html")).target == "/a b.html"
    assert resolve(SITE, parse_path("/STYLE.CSS")).outcome is Outcome.NOT_FOUND
    literal = resolve(SITE, parse_path("/%252e%252e/x"))
    assert (literal.outcome, literal.target) == (Outcome.FILE, "/%2e%2e/x")
