"""Accept-Encoding negotiation and Range parsing as pure functions (RFC 9110 12.5.3, 14)."""

from __future__ import annotations

import pytest

from deploy_platform.contracts.manifest import BlobRef, FileEntry
from serve.encodings import choose, choose_coding, representation_headers, variant_etag
from serve.ranges import UNSATISFIABLE, ByteRange, parse_range, requested_range

BOTH = frozenset({"br", "gzip"})


@pytest.mark.parametrize(
    ("header", "available", "expected"),
    [
        (None, BOTH, None),  # no header: identity
        ("", BOTH, None),  # empty: no coding wanted
        ("br", BOTH, "br"),
        ("gzip", BOTH, "gzip"),
        ("gzip, deflate, br, zstd", BOTH, "br"),  # a browser: br first at equal q
        ("gzip, br", BOTH, "br"),  # the order of the list does not rank
        ("br;q=0.8, gzip;q=0.9", BOTH, "gzip"),
        ("br;q=0, gzip", BOTH, "gzip"),
        ("BR", BOTH, "br"),  # codings are case-insensitive
        ("x-gzip", BOTH, "gzip"),  # RFC 9110 8.4.1.3
        ("*", BOTH, "br"),
        ("*;q=0.5, identity", BOTH, None),  # identity ranked higher
        ("gzip;q=0.5, identity;q=0.5", BOTH, "gzip"),  # a tie: the smaller body
        ("identity;q=0", BOTH, None),  # nothing else acceptable: disregarded
        ("gzip;q=0.5, identity;q=0", BOTH, "gzip"),
        ("deflate, compress", BOTH, None),
        ("br", frozenset({"gzip"}), None),
        ("gzip", frozenset({"gzip"}), "gzip"),
        ("br, gzip", frozenset(), None),
        ("br;q=2", BOTH, None),  # not a qvalue: that element is skipped
        ("br;q=abc, gzip;q=0.1", BOTH, "gzip"),
        ("br;q=0.001", BOTH, "br"),
        ("br;q=0.0001", BOTH, None),  # four decimals: not a qvalue
        (" br ; q = 0.5 ,gzip;q=0.4", BOTH, "br"),
        ("br;level=5", BOTH, "br"),  # unknown parameters are ignored
        (",,, br ,", BOTH, "br"),  # empty list elements are allowed
        ("b r", BOTH, None),
        ("br;q=0, br", BOTH, None),  # listed twice: the first mention counts
        ("zstd;q=1, *;q=0.1", BOTH, "br"),
        ("*;q=0", BOTH, None),
    ],
)
def test_choose_coding(header: str | None, available: frozenset[str], expected: str | None) -> None:
    assert choose_coding(header, available) == expected


def entry_with_variants(**codings: int) -> FileEntry:
    refs = {name: BlobRef(str(i) * 64, size) for i, (name, size) in enumerate(codings.items())}
    return FileEntry.for_blob("/app.js", "a" * 64, 10_000, refs)


def test_each_representation_has_its_own_strong_etag() -> None:
    entry = entry_with_variants(br=900, gzip=1200)
    identity = choose(entry, entry.etag, None)
    br = choose(entry, entry.etag, "br")
    assert (identity.coding, identity.etag, identity.body) == (None, entry.etag, entry.identity)
    assert (br.coding, br.body) == ("br", entry.encodings["br"])
    assert br.etag == f'"{"a" * 64}-br"' == variant_etag(entry.etag, "br")
    assert choose(entry, entry.etag, "gzip").etag == f'"{"a" * 64}-gzip"'
    assert choose(entry, entry.etag, "br", identity_only=True) == identity


def test_vary_is_added_for_files_with_variants_and_merged_with_a_sites_own() -> None:
    entry = entry_with_variants(br=900)
    plain = FileEntry.for_blob("/logo.png", "b" * 64, 10_000)

    headers: dict[str, str] = {}
    representation_headers(headers, entry, choose(entry, entry.etag, "br"))
    assert headers == {
        "ETag": f'"{"a" * 64}-br"',
        "Content-Encoding": "br",
        "Vary": "Accept-Encoding",
    }

    headers = {}
    representation_headers(headers, plain, choose(plain, plain.etag, "br"))
    assert headers == {"ETag": plain.etag}

    for given, expected in [
        ("Cookie", "Cookie, Accept-Encoding"),
        ("accept-encoding", "accept-encoding"),
        ("*", "*"),
    ]:
        headers = {"vary": given}
        representation_headers(headers, entry, choose(entry, entry.etag, None))
        assert headers["vary"] == expected and "Vary" not in headers


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, ByteRange(0, 99, 1000)),
        ("bytes=100-", 1000, ByteRange(100, 999, 1000)),
        ("bytes=-100", 1000, ByteRange(900, 999, 1000)),
        ("bytes=-5000", 1000, ByteRange(0, 999, 1000)),  # longer than the body: all of it
        ("bytes=900-5000", 1000, ByteRange(900, 999, 1000)),  # the end is clamped
        ("bytes=999-999", 1000, ByteRange(999, 999, 1000)),
        ("BYTES=0-0", 1000, ByteRange(0, 0, 1000)),  # the unit is case-insensitive
        (" bytes=0-1 ", 1000, ByteRange(0, 1, 1000)),
        ("bytes=0-1,", 1000, ByteRange(0, 1, 1000)),  # an empty list element
        ("bytes=1000-", 1000, UNSATISFIABLE),
        ("bytes=5000-6000", 1000, UNSATISFIABLE),
        ("bytes=-0", 1000, UNSATISFIABLE),
        ("bytes=99999999999999999999-", 1000, UNSATISFIABLE),  # 20 digits
        ("bytes=999999999999999999999-", 1000, None),  # 21 digits: not parsed
        ("bytes=0-1, 5-6", 1000, None),  # several ranges: the whole body
        ("bytes=5-1", 1000, None),  # last < first: invalid, ignored
        ("bytes=", 1000, None),
        ("bytes=a-b", 1000, None),
        ("bytes=-", 1000, None),
        ("bytes = 0-1", 1000, None),
        ("items=0-1", 1000, None),
        ("bytes=0-1", 0, None),  # an empty body has no ranges to serve
        ("bytes=+1-2", 1000, None),
    ],
)
def test_parse_range(header: str, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_content_range() -> None:
    assert ByteRange(5, 9, 100).content_range == "bytes 5-9/100"
    assert ByteRange(5, 9, 100).length == 5


@pytest.mark.parametrize(
    ("method", "if_range", "expected"),
    [
        ("GET", None, ByteRange(0, 9, 100)),
        ("GET", '"tag"', ByteRange(0, 9, 100)),  # the current identity ETag
        ("GET", ' "tag" ', ByteRange(0, 9, 100)),
        ("GET", 'W/"tag"', None),  # If-Range compares strongly
        ("GET", '"tag-br"', None),  # another representation's tag
        ("GET", '"old"', None),
        ("GET", "Sun, 06 Nov 1994 08:49:37 GMT", None),  # no Last-Modified to compare
        ("HEAD", None, None),  # ranges are defined for GET only
    ],
)
def test_requested_range(method: str, if_range: str | None, expected: object) -> None:
    assert requested_range(method, "bytes=0-9", if_range, '"tag"', 100) == expected
