"""Precompressed variants and byte ranges, over a real loopback edge and real stores.

Requests go out as raw bytes (`raw_request`), so the body checked is exactly the
one on the wire: no client decompresses or reassembles anything on the way.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import brotli
import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import BlobRef, Manifest
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.s3 import S3ObjectStore
from serve.appkeys import BODIES
from serve.bodies import BodyReader
from serve.cache import MISSING
from serve.config import EdgeConfig
from tests.serve.conftest import EdgeFactory
from tests.serve.helpers import RawResponse, raw_request
from tests.support.deployments import write_deployment
from tests.support.s3_fixtures import S3Server

SCRIPT = b"".join(b"export const v%d = %d * 2;\n" % (i, i) for i in range(400))
PAGE = b"<!doctype html><title>t</title>" + b"<p>a paragraph of text</p>\n" * 80
LOGO = random.Random(1).randbytes(4000)  # a .png: no variants
SMALL = b"console.log('small')\n"  # under the floor: no variants
BIG = random.Random(2).randbytes(5 * 1024 * 1024 + 17)  # streamed, never cached whole
SITE = {
    "/index.html": PAGE,
    "/app.js": SCRIPT,
    "/logo.png": LOGO,
    "/small.js": SMALL,
    "/big.bin": BIG,
    "/404.html": b"<h1>lost</h1>" + b"<p>nothing here, sorry</p>\n" * 60,
}


@pytest.fixture
def deployment(store: LocalObjectStore) -> tuple[str, Manifest]:
    deployment_id = new_deployment_id()
    return deployment_id, write_deployment(store, deployment_id, SITE)


async def get(
    edge: TestClient[Any, Any], deployment_id: str, path: str, method: str = "GET", **headers: str
) -> RawResponse:
    fields = {name.replace("_", "-"): value for name, value in headers.items()}
    return await raw_request(edge, path, f"{deployment_id}.localhost", method, fields)


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# -- choosing a variant -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0.5, gzip;q=1", "gzip"),
        ("*", "br"),
        ("br;q=0.5, identity", None),
        ("identity;q=0", None),  # nothing acceptable but identity exists: disregarded
        ("deflate", None),
        (None, None),
    ],
)
async def test_accept_encoding_picks_the_representation(
    edge: TestClient[Any, Any],
    deployment: tuple[str, Manifest],
    accept: str | None,
    coding: str | None,
) -> None:
    deployment_id, _ = deployment
    headers = {"Accept_Encoding": accept} if accept is not None else {}
    response = await get(edge, deployment_id, "/app.js", **headers)

    assert response.status == 200
    assert response.headers.get("Content-Encoding") == coding
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Content-Length"] == str(len(response.body))
    assert response.headers["Accept-Ranges"] == "bytes"
    decode = {None: bytes, "br": brotli.decompress, "gzip": gzip.decompress}[coding]
    assert decode(response.body) == SCRIPT
    identity_tag = f'"{sha(SCRIPT)}"'
    expected_tag = identity_tag if coding is None else f'"{sha(SCRIPT)}-{coding}"'
    assert response.headers["ETag"] == expected_tag


async def test_compressed_answers_are_smaller_and_match_the_manifest(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, manifest = deployment
    # The URL each file is served at (one URL per file: /404.html is /404).
    for path, url, body in (
        ("/index.html", "/", PAGE),
        ("/app.js", "/app.js", SCRIPT),
        ("/404.html", "/404", SITE["/404.html"]),
    ):
        variants = manifest.files[path].encodings
        for coding in ("br", "gzip"):
            response = await get(edge, deployment_id, url, Accept_Encoding=coding)
            assert sha(response.body) == variants[coding].blob
            assert len(response.body) == variants[coding].size < len(body)


async def test_files_without_variants_do_not_vary(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, _ = deployment
    for path, body in (("/logo.png", LOGO), ("/small.js", SMALL)):
        response = await get(edge, deployment_id, path, Accept_Encoding="br, gzip")
        assert (response.status, response.body) == (200, body)
        assert "Content-Encoding" not in response.headers
        assert "Vary" not in response.headers
        assert response.headers["ETag"] == f'"{sha(body)}"'


async def test_head_carries_the_chosen_encoding_and_its_length(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, manifest = deployment
    response = await get(edge, deployment_id, "/app.js", "HEAD", Accept_Encoding="br")
    assert (response.status, response.body) == (200, b"")
    assert response.headers["Content-Encoding"] == "br"
    assert response.headers["Content-Length"] == str(manifest.files["/app.js"].encodings["br"].size)
    assert response.headers["ETag"] == f'"{sha(SCRIPT)}-br"'
    assert response.headers["Vary"] == "Accept-Encoding"


async def test_the_sites_404_page_is_compressed_too_but_has_no_validator(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, _ = deployment
    response = await get(edge, deployment_id, "/nowhere", Accept_Encoding="gzip")
    assert response.status == 404
    assert gzip.decompress(response.body) == SITE["/404.html"]
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert "ETag" not in response.headers
    assert "Accept-Ranges" not in response.headers


# -- revalidation ----------------------------------------------------------------------


async def test_each_variant_revalidates_with_its_own_tag(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, _ = deployment
    tags = {}
    for coding in ("br", "gzip", "identity"):
        response = await get(edge, deployment_id, "/app.js", Accept_Encoding=coding)
        tags[coding] = response.headers["ETag"]
    assert len(set(tags.values())) == 3

    for coding, tag in tags.items():
        response = await get(
            edge, deployment_id, "/app.js", Accept_Encoding=coding, If_None_Match=tag
        )
        assert (response.status, response.body) == (304, b"")
        assert response.headers["ETag"] == tag
        assert response.headers["Vary"] == "Accept-Encoding"
        assert "Content-Encoding" not in response.headers


async def test_revalidating_with_another_variants_tag_gets_the_right_variant(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    """A cache holding the gzip copy asks for br: it must get br, not a 304 for gzip."""
    deployment_id, _ = deployment
    gzip_tag = f'"{sha(SCRIPT)}-gzip"'
    response = await get(
        edge, deployment_id, "/app.js", Accept_Encoding="br", If_None_Match=gzip_tag
    )
    assert response.status == 200
    assert response.headers["Content-Encoding"] == "br"
    assert brotli.decompress(response.body) == SCRIPT
    # ...and a list naming the chosen one among others is a match (RFC 9110 13.1.2).
    both = f'{gzip_tag}, "{sha(SCRIPT)}-br"'
    assert (
        await get(edge, deployment_id, "/app.js", Accept_Encoding="br", If_None_Match=both)
    ).status == 304


# -- ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("0-99", 0, 99),
        ("100-", 100, len(SCRIPT) - 1),
        ("-50", len(SCRIPT) - 50, len(SCRIPT) - 1),
        ("10-999999", 10, len(SCRIPT) - 1),
    ],
)
async def test_a_single_range_gets_206_of_the_identity_body(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest], spec: str, start: int, end: int
) -> None:
    deployment_id, _ = deployment
    # Accept-Encoding is set on purpose: ranges are of the identity body all the same.
    response = await get(
        edge, deployment_id, "/app.js", Range=f"bytes={spec}", Accept_Encoding="br"
    )
    assert response.status == 206
    assert response.body == SCRIPT[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(SCRIPT)}"
    assert response.headers["Content-Length"] == str(end - start + 1)
    assert "Content-Encoding" not in response.headers
    assert response.headers["ETag"] == f'"{sha(SCRIPT)}"'
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Accept-Ranges"] == "bytes"


async def test_a_range_past_the_end_gets_416_with_the_length(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, _ = deployment
    for spec in (f"{len(LOGO)}-", "999999-", "-0"):
        response = await get(edge, deployment_id, "/logo.png", Range=f"bytes={spec}")
        assert (response.status, response.body) == (416, b"")
        assert response.headers["Content-Range"] == f"bytes */{len(LOGO)}"
        assert "Content-Type" not in response.headers


@pytest.mark.parametrize("range_header", ["bytes=0-1, 5-9", "bytes=9-1", "lines=0-1", "bytes=x-"])
async def test_ranges_not_served_get_the_whole_file(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest], range_header: str
) -> None:
    deployment_id, _ = deployment
    response = await get(edge, deployment_id, "/logo.png", Range=range_header)
    assert (response.status, response.body) == (200, LOGO)
    assert "Content-Range" not in response.headers


async def test_if_range_lets_the_range_through_only_for_the_current_body(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, _ = deployment
    current = f'"{sha(SCRIPT)}"'
    hit = await get(edge, deployment_id, "/app.js", Range="bytes=0-9", If_Range=current)
    assert (hit.status, hit.body) == (206, SCRIPT[:10])
    for stale in ('"0000"', f"W/{current}", f'"{sha(SCRIPT)}-br"', "Sun, 06 Nov 1994 08:49:37 GMT"):
        miss = await get(
            edge, deployment_id, "/app.js", Range="bytes=0-9", If_Range=stale, Accept_Encoding="br"
        )
        # The whole representation, as if no Range had been sent: negotiated as usual.
        assert miss.status == 200
        assert brotli.decompress(miss.body) == SCRIPT


async def test_if_none_match_is_answered_before_the_range(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, _ = deployment
    current = f'"{sha(SCRIPT)}"'
    response = await get(edge, deployment_id, "/app.js", Range="bytes=0-9", If_None_Match=current)
    assert response.status == 304


async def test_head_ignores_range(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, _ = deployment
    response = await get(edge, deployment_id, "/logo.png", "HEAD", Range="bytes=0-9")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(LOGO))


async def test_ranges_of_a_large_file_are_streamed_from_the_offset(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, _ = deployment
    size = len(BIG)
    for spec, start, end in [
        ("0-0", 0, 0),
        (f"{size - 1000}-", size - 1000, size - 1),
        ("-3000000", size - 3_000_000, size - 1),
        ("1048570-2097160", 1_048_570, 2_097_160),  # across chunk boundaries
    ]:
        response = await get(edge, deployment_id, "/big.bin", Range=f"bytes={spec}")
        assert response.status == 206, spec
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert sha(response.body) == sha(BIG[start : end + 1])
    assert edge.app is not None
    assert edge.app[BODIES].cache.get(sha(BIG)) is MISSING  # never read whole


async def test_ranges_from_s3(
    start_edge: EdgeFactory, s3_server: S3Server, s3_store_url: str, s3_store: S3ObjectStore
) -> None:
    deployment_id = new_deployment_id()
    manifest = write_deployment(s3_store, deployment_id, SITE)
    edge = await start_edge(
        storage_url=s3_store_url,
        storage_access_key_id=s3_server.access_key_id,
        storage_secret_access_key=s3_server.secret_access_key,
    )
    size = len(BIG)
    response = await get(edge, deployment_id, "/big.bin", Range=f"bytes={size - 70000}-{size - 2}")
    assert response.status == 206
    assert response.body == BIG[size - 70000 : size - 1]
    response = await get(edge, deployment_id, "/big.bin", Range=f"bytes={size}-")
    assert (response.status, response.headers["Content-Range"]) == (416, f"bytes */{size}")
    response = await get(edge, deployment_id, "/app.js", Accept_Encoding="gzip")
    assert gzip.decompress(response.body) == SCRIPT
    assert len(response.body) == manifest.files["/app.js"].encodings["gzip"].size


# -- the body reader asks the store for the range, not the whole blob ----------------------


class RecordingStore(LocalObjectStore):
    """A real local store that remembers which byte ranges were asked of it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.ranges: list[tuple[str, int, int | None]] = []

    def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> Any:
        self.ranges.append((key, start, end))
        return super().iter_range(key, start, end, chunk_size)


async def read_range(store: ObjectStore, blob: str, size: int, start: int, end: int) -> bytes:
    config = EdgeConfig(storage_url="file:///unused", chunk_size=64 * 1024)
    with ThreadPoolExecutor(2) as executor:
        reader = BodyReader(store, executor, config)
        chunks = [chunk async for chunk in reader.chunks(BlobRef(blob, size), start, end)]
    assert all(len(chunk) <= 64 * 1024 for chunk in chunks)
    return b"".join(chunks)


async def test_the_body_reader_reads_only_the_range(local_store_root: Path) -> None:
    store = RecordingStore(local_store_root)
    write_deployment(store, new_deployment_id(), {"/big.bin": BIG})
    store.ranges.clear()
    body = await read_range(store, sha(BIG), len(BIG), 4_000_000, 4_100_000)
    assert body == BIG[4_000_000:4_100_001]
    assert store.ranges == [(f"blobs/{sha(BIG)}", 4_000_000, 4_100_000)]


async def test_the_body_reader_reads_a_range_from_s3(s3_store: S3ObjectStore) -> None:
    write_deployment(s3_store, new_deployment_id(), {"/big.bin": BIG})
    body = await read_range(s3_store, sha(BIG), len(BIG), len(BIG) - 200_000, len(BIG) - 1)
    assert body == BIG[-200_000:]


async def test_many_concurrent_ranges_agree(
    edge: TestClient[Any, Any], deployment: tuple[str, Manifest]
) -> None:
    deployment_id, _ = deployment
    spans = [(i * 300_001, i * 300_001 + 99_999) for i in range(12)]
    responses = await asyncio.gather(
        *(get(edge, deployment_id, "/big.bin", Range=f"bytes={a}-{b}") for a, b in spans)
    )
    for (a, b), response in zip(spans, responses, strict=True):
        assert (response.status, response.body) == (206, BIG[a : b + 1])
