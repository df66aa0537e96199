"""The edge fixture site (`tests/fixtures/apps/edge-site`), published by the real publisher
and served by the edge-origin on loopback: what a visitor of the site sees.

The site is published from a copy of its repository root, with a `.git/`
directory added (a fixture cannot commit one), as a static site without a
build step is.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import Manifest
from deploy_platform.publish.aliases import point_alias
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.serve.conftest import EdgeFactory

SITE = Path(__file__).parents[1] / "fixtures" / "apps" / "edge-site"
HOST = "edge-site.localhost"
SCRIPT = "/assets/app-3f2a1c9e7d.js"
LARGE_TEXT = ("/docs/guide.html", "/assets/styles-9b8e7f6a5c.css", SCRIPT, "/data/catalog.json")


@pytest.fixture
def published_site(
    tmp_path: Path, store: LocalObjectStore, state: PlatformState
) -> tuple[str, Manifest]:
    """The fixture site, published and live on the `edge-site` alias: (deployment id, manifest)."""
    root = tmp_path / "edge-site"
    shutil.copytree(SITE, root)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text('[remote "origin"]\n\turl = https://token@example.com\n')
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    deployment = new_deployment_id()
    manifest = publish_directory(store, deployment, root).manifest
    point_alias(store, state, "edge-site", deployment)
    return deployment, manifest


@pytest.fixture
async def edge_site(
    start_edge: EdgeFactory, published_site: tuple[str, Manifest]
) -> TestClient[Any, Any]:
    """The edge-origin with the site live; bodies above 64 KiB are streamed, not cached."""
    return await start_edge(body_cache_item_bytes=64 * 1024)


async def fetch(client: TestClient[Any, Any], path: str) -> tuple[int, dict[str, str], bytes]:
    async with client.get(path, headers={"Host": HOST}, allow_redirects=False) as response:
        return response.status, dict(response.headers), await response.read()


def on_disk(path: str) -> bytes:
    return (SITE / path.lstrip("/")).read_bytes()


def test_only_the_sites_public_files_are_published(published_site: tuple[str, Manifest]) -> None:
    _, manifest = published_site
    assert sorted(manifest.files) == [
        "/.well-known/security.txt",
        "/404.html",
        "/assets/app-3f2a1c9e7d.js",
        "/assets/styles-9b8e7f6a5c.css",
        "/data/catalog.json",
        "/docs/404.html",
        "/docs/guide.html",
        "/docs/index.html",
        "/index.html",
    ]
    assert manifest.routes is not None
    assert len(manifest.routes.redirects) == 3 and len(manifest.routes.headers) == 2


async def test_pages_and_large_text_files_are_served_whole(edge_site: TestClient[Any, Any]) -> None:
    status, headers, body = await fetch(edge_site, "/")
    assert (status, body) == (200, on_disk("/index.html"))
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    for path in LARGE_TEXT:
        assert len(on_disk(path)) > 40_000
        url = path.removesuffix(".html")  # one URL per file: /docs/guide.html is /docs/guide
        status, headers, body = await fetch(edge_site, url)
        # aiohttp asks for gzip/br and decodes: a precompressed variant came, whole.
        assert (status, body) == (200, on_disk(path)), path
        assert headers["Content-Encoding"] in ("br", "gzip"), path
        assert headers["Vary"] == "Accept-Encoding", path
    status, headers, _ = await fetch(edge_site, "/docs/guide.html")
    assert (status, headers["Location"]) == (308, "/docs/guide")


async def test_well_known_files_are_served_and_hidden_files_are_not(
    edge_site: TestClient[Any, Any],
) -> None:
    status, headers, body = await fetch(edge_site, "/.well-known/security.txt")
    assert (status, body) == (200, on_disk("/.well-known/security.txt"))
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    for path in ("/.env", "/.git/config", "/.git/HEAD", "/_headers", "/_redirects"):
        status, _, body = await fetch(edge_site, path)
        assert (status, body) == (404, on_disk("/404.html")), path
        assert b"token" not in body


async def test_header_rules_apply_to_the_paths_they_name(edge_site: TestClient[Any, Any]) -> None:
    _, script_headers, _ = await fetch(edge_site, SCRIPT)
    assert script_headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert script_headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "X-Section" not in script_headers
    _, docs_headers, _ = await fetch(edge_site, "/docs/guide")
    assert docs_headers["X-Section"] == "docs"
    assert docs_headers["Cache-Control"] == "public, max-age=0, must-revalidate"


async def test_redirects_and_rewrites(edge_site: TestClient[Any, Any]) -> None:
    status, headers, _ = await fetch(edge_site, "/old-docs/guide.html")
    assert (status, headers["Location"]) == (301, "/docs/guide.html")
    status, headers, _ = await fetch(edge_site, "/guide")
    assert (status, headers["Location"]) == (302, "/docs/guide.html")
    status, headers, body = await fetch(edge_site, "/api/catalog")  # a 200 rewrite
    assert (status, body) == (200, on_disk("/data/catalog.json"))
    assert headers["Content-Type"] == "application/json; charset=utf-8"


async def test_a_missing_page_gets_the_sites_404_page(edge_site: TestClient[Any, Any]) -> None:
    status, headers, body = await fetch(edge_site, "/no-such-page")
    assert (status, body) == (404, on_disk("/404.html"))
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    # Under /docs/ the nearest 404 page is the docs' own.
    status, _, body = await fetch(edge_site, "/docs/no-such-page")
    assert (status, body) == (404, on_disk("/docs/404.html"))
    # A missing fingerprinted asset is a real 404 too, never a page in its place with 200.
    status, _, _ = await fetch(edge_site, "/assets/app-0000aaaa11.js")
    assert status == 404
