"""Response headers and If-None-Match (RFC 9110 13.1.2, weak comparison)."""

from __future__ import annotations

import pytest

from deploy_platform.contracts.manifest import FileEntry
from serve.headers import etag_for, file_headers, if_none_match_matches

TAG = '"3f2a"'


@pytest.mark.parametrize(
    "header",
    [
        '"3f2a"',
        'W/"3f2a"',
        '"other", "3f2a"',
        '"other",W/"3f2a"',
        ' , "3f2a" ',
        "*",
        " * ",
    ],
)
def test_if_none_match_matches(header: str) -> None:
    assert if_none_match_matches(header, TAG)


@pytest.mark.parametrize(
    "header",
    [None, "", '"3f2b"', "3f2a", '"3f2a', 'W/"other"', '"a,b"', 'garbage, "3f2a"'],
)
def test_if_none_match_does_not_match(header: str | None) -> None:
    assert not if_none_match_matches(header, TAG)


def test_a_malformed_manifest_etag_falls_back_to_the_blob_hash() -> None:
    entry = FileEntry(blob="ab" * 32, size=1, content_type="text/plain", etag="no-quotes")
    assert etag_for(entry) == f'"{"ab" * 32}"'


def test_manifest_headers_cannot_replace_framing_or_type() -> None:
    entry = FileEntry(
        blob="ab" * 32,
        size=1,
        content_type="text/css; charset=utf-8",
        etag='"x"',
        headers={
            "Content-Type": "text/html",
            "Content-Length": "999",
            "X-Frame-Options": "DENY",
            "Bad Name": "x",
            "X-Split": "a\r\nSet-Cookie: evil=1",
        },
    )
    headers = file_headers(entry)
    assert headers["Content-Type"] == "text/css; charset=utf-8"
    assert "Content-Length" not in headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "Bad Name" not in headers and "X-Split" not in headers
    assert headers["X-Content-Type-Options"] == "nosniff"


def _entry(headers: dict[str, str] | None = None) -> FileEntry:
    entry = FileEntry.for_blob("/page.html", "ab" * 32, 10)
    return FileEntry(
        blob=entry.blob,
        size=entry.size,
        content_type=entry.content_type,
        etag=entry.etag,
        headers=headers or {},
    )


def test_the_defaults_pages_sends_on_a_file() -> None:
    headers = file_headers(_entry())
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "public, max-age=0, must-revalidate"


def test_a_rule_replaces_or_removes_a_default_and_may_set_the_type() -> None:
    rules = {
        "access-control-allow-origin": None,  # `! Access-Control-Allow-Origin`
        "referrer-policy": "no-referrer",
        "content-type": "application/json",
        "ETag": '"forged"',
        "Content-Length": "1",
        "Server": "other",
    }
    headers = {name.lower(): value for name, value in file_headers(_entry(), rules).items()}
    assert "access-control-allow-origin" not in headers
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-type"] == "application/json"
    assert headers["etag"] == f'"{"ab" * 32}"'
    assert "content-length" not in headers
    assert headers["server"] == "deploy-platform-edge"


def test_a_404_is_never_stored_and_carries_no_early_hints() -> None:
    entry = _entry({"Link": '</a.css>; rel="preload"; as=style'})
    assert file_headers(entry)["Link"] == '</a.css>; rel="preload"; as=style'
    missing = file_headers(entry, {"Cache-Control": "public, max-age=604800"}, status=404)
    assert missing["Cache-Control"] == "no-store"
    assert "Link" not in missing
    # A rule's own Link still applies to a 404, as Pages applies `_headers` there.
    assert file_headers(entry, {"Link": "</b.css>; rel=preload"}, status=404)["Link"] == (
        "</b.css>; rel=preload"
    )
