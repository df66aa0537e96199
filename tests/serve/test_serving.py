"""The edge-origin over a real loopback server, a local object store and real Redis."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import Manifest, alias_key, blob_key, manifest_key
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from serve.appkeys import BODIES
from serve.cache import MISSING
from tests.serve.conftest import EdgeFactory
from tests.serve.helpers import raw_request
from tests.support.deployments import point_alias, write_deployment
from tests.support.waiting import eventually_async

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")
SITE = {
    "/index.html": b"<h1>home</h1>",
    "/about/index.html": b"<h1>about</h1>",
    "/docs/guide/index.html": b"<h1>guide</h1>",
    "/style.css": b"body { color: red }",
    "/app.js": b"console.log('hi')",
    "/data.json": b'{"ok": true}',
    "/logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "/pixel.png": PNG,
    "/a b.html": b"spaced",
    "/404.html": b"<h1>this site's own 404</h1>",
}
PLATFORM_MARK = b"deploy-platform</footer>"


def host(label: str) -> dict[str, str]:
    return {"Host": f"{label}.localhost:8080"}


@pytest.fixture
def site_id(store: LocalObjectStore) -> str:
    """A published deployment of SITE."""
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, SITE)
    return deployment_id


async def fetch(
    client: TestClient[Any, Any], label: str, path: str = "/", **kwargs: Any
) -> tuple[int, bytes, Any]:
    headers = {**host(label), **kwargs.pop("headers", {})}
    async with client.request(
        kwargs.pop("method", "GET"), path, headers=headers, allow_redirects=False, **kwargs
    ) as response:
        return response.status, await response.read(), response.headers


# -- hosts ------------------------------------------------------------------------------


async def test_an_id_host_serves_its_deployment(edge: TestClient[Any, Any], site_id: str) -> None:
    status, body, headers = await fetch(edge, site_id)
    assert status == 200
    assert body == SITE["/index.html"]
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Length"] == str(len(SITE["/index.html"]))
    assert headers["ETag"] == f'"{hashlib.sha256(SITE["/index.html"]).hexdigest()}"'
    assert headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_host_spelling_is_normalized(edge: TestClient[Any, Any], site_id: str) -> None:
    status, body, _ = await fetch(
        edge, "ignored", headers={"Host": f"{site_id.upper()}.LocalHost.:8080"}
    )
    assert (status, body) == (200, SITE["/index.html"])


async def test_alias_hosts_follow_redis(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState, site_id: str
) -> None:
    point_alias(store, state, "docs", site_id)
    point_alias(store, state, "feature-login--docs", site_id)
    assert (await fetch(edge, "docs", "/style.css"))[:2] == (200, SITE["/style.css"])
    assert (await fetch(edge, "feature-login--docs"))[:2] == (200, SITE["/index.html"])


async def test_redis_is_read_before_the_store_pointer(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState, site_id: str
) -> None:
    other = new_deployment_id()
    write_deployment(store, other, {"/index.html": b"other"})
    point_alias(store, state, "docs", site_id)
    state.set_alias("docs", other)  # only the Redis index says `other`
    assert (await fetch(edge, "docs"))[:2] == (200, b"other")


async def test_an_alias_missing_from_redis_falls_back_to_the_store(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState, site_id: str
) -> None:
    point_alias(store, state, "docs", site_id)
    state.redis.delete(state.key("alias", "docs"))  # a Redis rebuilt from nothing
    assert (await fetch(edge, "docs"))[:2] == (200, SITE["/index.html"])


async def test_an_unreachable_redis_falls_back_to_the_store(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState, site_id: str
) -> None:
    from deploy_platform.processes.ports import free_port

    point_alias(store, state, "docs", site_id)
    edge = await start_edge(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert (await fetch(edge, "docs"))[:2] == (200, SITE["/index.html"])
    assert (await fetch(edge, "docs", "/about/"))[:2] == (200, SITE["/about/index.html"])


async def test_a_store_only_edge_serves_aliases(
    start_edge: EdgeFactory, store: LocalObjectStore, state: PlatformState, site_id: str
) -> None:
    point_alias(store, state, "docs", site_id)
    edge = await start_edge(redis_url="")
    assert (await fetch(edge, "docs"))[:2] == (200, SITE["/index.html"])


@pytest.mark.parametrize(
    "raw_host",
    [
        "nosuchproject.localhost",  # a well-formed alias that points nowhere
        "aaaaaaaaaaa2.localhost",  # a well-formed id that was never published
        "localhost",
        "localhost:8080",
        "evillocalhost:8080",
        "docs.evillocalhost",
        "x.docs.localhost",
        "a" * 64 + ".localhost",
        "docs_x.localhost",
        "127.0.0.1:8080",
        "[::1]:8080",
    ],
)
async def test_unknown_hosts_get_the_platform_404_page(
    edge: TestClient[Any, Any],
    store: LocalObjectStore,
    state: PlatformState,
    site_id: str,
    raw_host: str,
) -> None:
    point_alias(store, state, "docs", site_id)  # a live site that must not be the default
    status, body, headers = await fetch(edge, "ignored", headers={"Host": raw_host})
    assert status == 404
    assert PLATFORM_MARK in body and b"Not found" in body
    assert SITE["/index.html"] not in body and SITE["/404.html"] not in body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"


async def test_nested_subdomains_of_a_live_site_are_not_served(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState, site_id: str
) -> None:
    point_alias(store, state, "docs", site_id)
    for raw_host in (f"www.{site_id}.localhost", "www.docs.localhost"):
        status, body, _ = await fetch(edge, "ignored", headers={"Host": raw_host})
        assert (status, PLATFORM_MARK in body) == (404, True)


async def test_a_deployment_without_a_manifest_does_not_exist(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    half_published = new_deployment_id()
    write_deployment(store, half_published, SITE)
    store.delete(manifest_key(half_published))  # bodies uploaded, manifest never written
    point_alias(store, state, "docs", half_published)
    for label in (half_published, "docs"):
        status, body, _ = await fetch(edge, label)
        assert status == 404 and PLATFORM_MARK in body


# -- paths ------------------------------------------------------------------------------


async def test_directories_serve_their_index(edge: TestClient[Any, Any], site_id: str) -> None:
    assert (await fetch(edge, site_id, "/about/"))[:2] == (200, SITE["/about/index.html"])
    assert (await fetch(edge, site_id, "/docs/guide/"))[:2] == (
        200,
        SITE["/docs/guide/index.html"],
    )
    assert (await fetch(edge, site_id, "/a%20b"))[:2] == (200, SITE["/a b.html"])


async def test_index_and_html_names_redirect_to_their_one_url(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    for target, location in (
        ("/about/index.html", "/about/"),
        ("/index.html", "/"),
        ("/a%20b.html", "/a%20b"),
    ):
        status, _, headers = await fetch(edge, site_id, target)
        assert (status, headers["Location"]) == (308, location), target


async def test_a_directory_without_slash_redirects(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, body, headers = await fetch(edge, site_id, "/about")
    assert (status, headers["Location"]) == (308, "/about/")
    status, _, headers = await fetch(edge, site_id, "/docs/guide?tab=2")
    assert (status, headers["Location"]) == (308, "/docs/guide/?tab=2")
    raw = await raw_request(edge, "//about", f"{site_id}.localhost")
    assert (raw.status, raw.headers["Location"]) == (308, "/about/")


async def test_missing_paths_get_the_sites_own_404_page(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, body, headers = await fetch(edge, site_id, "/no/such/page")
    assert (status, body) == (404, SITE["/404.html"])
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "ETag" not in headers


async def test_missing_paths_without_404_html_or_index_html_get_the_platform_page(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    bare = new_deployment_id()
    # With /index.html and no /404.html it would be a single-page app (test_not_found).
    write_deployment(store, bare, {"/page.html": b"bare"})
    status, body, _ = await fetch(edge, bare, "/nope")
    assert status == 404 and PLATFORM_MARK in body


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/logo.svg", "image/svg+xml; charset=utf-8"),
        ("/pixel.png", "image/png"),
    ],
)
async def test_content_types_come_from_the_manifest(
    edge: TestClient[Any, Any], site_id: str, path: str, content_type: str
) -> None:
    status, body, headers = await fetch(edge, site_id, path)
    assert (status, body, headers["Content-Type"]) == (200, SITE[path], content_type)


# -- bad paths never leave the deployment ----------------------------------------------


@pytest.fixture
def secrets_around(store: LocalObjectStore, tmp_path: Path) -> bytes:
    """Files a traversal would reach: a sibling deployment, the store root's parent, /etc."""
    marker = b"TOP-SECRET-MARKER"
    write_deployment(store, new_deployment_id(), {"/secret": marker, "/index.html": marker})
    (tmp_path / "secret").write_bytes(marker)
    store.put_bytes("secret", marker)
    return marker


@pytest.mark.parametrize("target", ["/..\\secret", "/%5c..%5csecret", "/..%5Csecret"])
async def test_backslash_spellings_name_no_file(
    edge: TestClient[Any, Any], site_id: str, secrets_around: bytes, target: str
) -> None:
    # A backslash is an ordinary character (as on Pages): `..\\secret` is one name, no file.
    response = await raw_request(edge, target, f"{site_id}.localhost")
    assert response.status == 404
    assert secrets_around not in response.body


@pytest.mark.parametrize(
    "target",
    [
        "/..",
        "/../secret",
        "/../../secret",
        "/a/../../secret",
        "/%2e%2e/secret",
        "/%2E%2E/%2e%2e/secret",
        "/..%2fsecret",
        "/..%2F..%2Fsecret",
        "/.%2e/secret",
        "/index.html%00",
        "/%00../secret",
        "/./index.html",
        "/%c0%ae%c0%ae/secret",
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ],
)
async def test_traversal_spellings_are_refused_with_400(
    edge: TestClient[Any, Any], site_id: str, secrets_around: bytes, target: str
) -> None:
    response = await raw_request(edge, target, f"{site_id}.localhost")
    assert response.status == 400
    assert b"Bad request" in response.body
    assert secrets_around not in response.body and b"root:" not in response.body


@pytest.mark.parametrize(
    "target",
    [
        "/%252e%252e/secret",  # double-encoded: stays the literal name `%2e%2e`
        "/%252e%252e%252fsecret",
        "/secret",
        "/blobs/" + "0" * 64,
        "/deployments",
        "/%2fsecret",
        "//secret",
    ],
)
async def test_paths_that_name_nothing_in_the_manifest_are_404(
    edge: TestClient[Any, Any], site_id: str, secrets_around: bytes, target: str
) -> None:
    response = await raw_request(edge, target, f"{site_id}.localhost")
    assert response.status == 404
    assert response.body == SITE["/404.html"]
    assert secrets_around not in response.body


# -- caching and methods ----------------------------------------------------------------


async def test_if_none_match_answers_304(edge: TestClient[Any, Any], site_id: str) -> None:
    _, _, headers = await fetch(edge, site_id, "/style.css")
    etag = headers["ETag"]
    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        status, body, not_modified = await fetch(
            edge, site_id, "/style.css", headers={"If-None-Match": condition}
        )
        assert (status, body) == (304, b""), condition
        assert not_modified["ETag"] == etag
        assert not_modified["Cache-Control"] == "public, max-age=0, must-revalidate"
    status, body, _ = await fetch(edge, site_id, "/style.css", headers={"If-None-Match": '"stale"'})
    assert (status, body) == (200, SITE["/style.css"])


async def test_head_sends_headers_without_a_body(edge: TestClient[Any, Any], site_id: str) -> None:
    response = await raw_request(edge, "/style.css", f"{site_id}.localhost", method="HEAD")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(SITE["/style.css"]))
    assert response.headers["Content-Type"] == "text/css; charset=utf-8"
    assert response.body == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_get_405(edge: TestClient[Any, Any], site_id: str, method: str) -> None:
    status, body, headers = await fetch(edge, site_id, "/", method=method, data=b"x")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert PLATFORM_MARK in body


async def test_small_bodies_are_served_from_memory(
    edge: TestClient[Any, Any], store: LocalObjectStore, site_id: str
) -> None:
    assert (await fetch(edge, site_id, "/app.js"))[:2] == (200, SITE["/app.js"])
    store.delete(blob_key(hashlib.sha256(SITE["/app.js"]).hexdigest()))
    assert (await fetch(edge, site_id, "/app.js"))[:2] == (200, SITE["/app.js"])


async def test_a_large_body_is_streamed_whole(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    big = random.Random(7).randbytes(6 * 1024 * 1024 + 123)
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, {"/index.html": b"x", "/video.bin": big})
    status, body, headers = await fetch(edge, deployment_id, "/video.bin")
    assert status == 200
    assert headers["Content-Length"] == str(len(big))
    assert hashlib.sha256(body).digest() == hashlib.sha256(big).digest()
    # Streamed, not read whole: the body cache never held it.
    blob = hashlib.sha256(big).hexdigest()
    assert edge.app is not None
    assert edge.app[BODIES].cache.get(blob) is MISSING

    head = await raw_request(edge, "/video.bin", f"{deployment_id}.localhost", method="HEAD")
    assert (head.status, head.headers["Content-Length"], head.body) == (200, str(len(big)), b"")


# -- damaged deployments are errors, not other content ----------------------------------


async def test_a_missing_blob_is_a_500_page(
    edge: TestClient[Any, Any], store: LocalObjectStore, site_id: str
) -> None:
    store.delete(blob_key(hashlib.sha256(SITE["/data.json"]).hexdigest()))
    status, body, _ = await fetch(edge, site_id, "/data.json")
    assert status == 500 and PLATFORM_MARK in body


async def test_an_unreadable_manifest_is_a_500_page(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    broken = new_deployment_id()
    store.put_bytes(manifest_key(broken), b"{not json")
    status, body, _ = await fetch(edge, broken)
    assert status == 500 and PLATFORM_MARK in body
    stolen = new_deployment_id()
    theirs = Manifest(deployment=new_deployment_id(), files={})
    store.put_bytes(manifest_key(stolen), theirs.to_json())  # names another deployment
    assert (await fetch(edge, stolen))[0] == 500


async def test_an_unreadable_alias_pointer_is_a_500_page(
    start_edge: EdgeFactory, store: LocalObjectStore
) -> None:
    edge = await start_edge(redis_url="")
    store.put_bytes(alias_key("docs"), json.dumps({"deployment": "../../etc"}).encode())
    store.put_bytes(alias_key("blog"), b"[]")
    assert (await fetch(edge, "docs"))[0] == 500
    assert (await fetch(edge, "blog"))[0] == 500


async def test_a_client_leaving_mid_body_closes_the_blob_reader(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    """Regression guard: an aborted download must not leak the store's reader or the edge."""
    big = random.Random(11).randbytes(8 * 1024 * 1024)
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, {"/index.html": b"still here", "/big.bin": big})
    for _ in range(3):
        reader, writer = await asyncio.open_connection(edge.server.host, edge.server.port)
        writer.write(f"GET /big.bin HTTP/1.1\r\nHost: {deployment_id}.localhost\r\n\r\n".encode())
        await reader.read(64 * 1024)
        writer.transport.abort()
    assert (await fetch(edge, deployment_id))[:2] == (200, b"still here")

    blob_file = str(store.root / blob_key(hashlib.sha256(big).hexdigest()))
    # Readers are closed in the I/O threads: give them a moment.
    await eventually_async(
        lambda: blob_file not in _open_files(),
        timeout=4,
        interval=0.02,
        message=f"{blob_file} closed",
    )


def _open_files() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return found
