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
