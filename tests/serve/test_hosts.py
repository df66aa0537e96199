"""Host header -> site: pure functions, every refusal case by name."""

from __future__ import annotations

import pytest

from serve.hosts import Site, SiteKind, normalize_host, site_for_host

ID = "abcdefghij23"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("docs.localhost", "docs.localhost"),
        ("Docs.LocalHost", "docs.localhost"),
        ("docs.localhost:8080", "docs.localhost"),
        ("docs.localhost.", "docs.localhost"),
        ("docs.localhost.:8080", "docs.localhost"),
        ("xn--bcher-kva.localhost", "xn--bcher-kva.localhost"),
    ],
)
def test_hosts_are_normalized(raw: str, expected: str) -> None:
    assert normalize_host(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "docs.localhost..",  # only one trailing dot is stripped
        "docs..localhost",
        ".localhost",
        "docs.localhost:",
        "docs.localhost:80x",
        "docs.localhost:123456",
        "docs.localhost:80:80",
        "[::1]:8080",
        "[::1]",
        "bücher.localhost",  # raw IDNA is refused; `xn--` labels are the ASCII form
        "\u212aiosk.localhost",  # Kelvin sign: lowercases to an ASCII 'k'
        "docs_site.localhost",
        "docs.localhost/x",
        "docs localhost",
        "user@docs.localhost",
        "-docs.localhost",
        "docs-.localhost",
        "a" * 64 + ".localhost",
        ("a" * 60 + ".") * 5 + "localhost",  # over 253 characters
    ],
)
def test_garbage_hosts_are_refused(raw: str | None) -> None:
    assert normalize_host(raw) is None


@pytest.mark.parametrize(
    ("raw", "site"),
    [
        (f"{ID}.localhost", Site(SiteKind.DEPLOYMENT, ID)),
        (f"{ID.upper()}.LOCALHOST.:8080", Site(SiteKind.DEPLOYMENT, ID)),
        ("docs.localhost", Site(SiteKind.ALIAS, "docs")),
        ("my-site.localhost:8080", Site(SiteKind.ALIAS, "my-site")),
        ("feature-login--docs.localhost", Site(SiteKind.ALIAS, "feature-login--docs")),
        ("abcdefghijkl.localhost", Site(SiteKind.ALIAS, "abcdefghijkl")),  # no digit: a name
    ],
)
def test_labels_under_the_base_domain_name_sites(raw: str, site: Site) -> None:
    assert site_for_host(raw, "localhost") == site


@pytest.mark.parametrize(
    "raw",
    [
        "localhost",  # the bare base domain is not a site
        "localhost:8080",
        "evillocalhost",  # a look-alike suffix without the dot (and one label)
        "a.docs.localhost",  # nested subdomains name nothing
        f"x.{ID}.localhost",
        "a" * 64 + ".localhost",  # over-long label
        "my--feature--docs.localhost",  # two separators: not an alias shape
        "--docs.localhost",
        "feature--.localhost",
        "feature--my--docs.localhost",
        "feature---docs.localhost",
        "feature--abcdefghij23.localhost",  # the project half would be an id
        "a" * 33 + ".localhost",  # longer than a project name may be
        "127.0.0.1",
        "127.0.0.1:8080",
        "10.0.0.1",
        "[::1]:8080",
        "a..b.com",
        "-a.example.com",
    ],
)
def test_other_hosts_name_no_site(raw: str) -> None:
    assert site_for_host(raw, "localhost") is None


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        # SECURITY: a look-alike of the base domain is never one of its sites; it is
        # only a candidate custom domain, looked up as the whole host.
        ("docs.evillocalhost", "docs.evillocalhost"),
        ("docs.localhost.evil.com", "docs.localhost.evil.com"),
        (f"{ID}.example.com", f"{ID}.example.com"),
        ("WWW.Example.COM.:8443", "www.example.com"),
        ("example.com", "example.com"),
    ],
)
def test_other_dns_names_are_custom_domain_candidates(raw: str, host: str) -> None:
    assert site_for_host(raw, "localhost") == Site(SiteKind.DOMAIN, host)


def test_a_multi_label_base_domain() -> None:
    assert site_for_host("docs.pages.example.com", "pages.example.com") == Site(
        SiteKind.ALIAS, "docs"
    )
    assert site_for_host("pages.example.com", "pages.example.com") is None
    assert site_for_host("a.docs.pages.example.com", "pages.example.com") is None
    # Outside the base domain a name can only be a custom domain, looked up whole.
    assert site_for_host("docs.example.com", "pages.example.com") == Site(
        SiteKind.DOMAIN, "docs.example.com"
    )
    assert site_for_host("docs.xpages.example.com", "pages.example.com") == Site(
        SiteKind.DOMAIN, "docs.xpages.example.com"
    )
