"""Paths that name no file, over a real loopback server: nearest 404.html, single-page apps."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.storage.local import LocalObjectStore
from tests.serve.test_rules import fetch
from tests.support.deployments import write_deployment

PLATFORM_MARK = b"deploy-platform</footer>"
NESTED = {
    "/index.html": b"<h1>home</h1>",
    "/404.html": b"<h1>top 404</h1>",
    "/docs/404.html": b"<h1>docs 404</h1>",
    "/docs/api/404.html": b"<h1>api 404</h1>",
    "/docs/api/index.html": b"<h1>api</h1>",
}
SPA = {
    "/index.html": b"<!doctype html><div id=root></div>",
    "/assets/index-BxT3k9aZ.js": b"render()",
    "/favicon.svg": b"<svg/>",
}


@pytest.fixture
def nested_id(store: LocalObjectStore) -> str:
    """A site with 404.html pages at three depths."""
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, NESTED)
    return deployment_id


@pytest.fixture
def spa_id(store: LocalObjectStore) -> str:
    """A single-page app as Vite builds it: index.html, hashed assets, no 404.html."""
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, SPA)
    return deployment_id


@pytest.mark.parametrize(
    ("target", "page"),
    [
        ("/docs/api/v2/missing", "/docs/api/404.html"),
        ("/docs/api/missing", "/docs/api/404.html"),
        ("/docs/missing/", "/docs/404.html"),
        ("/docs/guide/x.css", "/docs/404.html"),
        ("/docs", "/404.html"),  # /docs names no file and no /docs/index.html: the top 404
        ("/elsewhere/deep/path", "/404.html"),
    ],
)
async def test_the_nearest_404_html_answers_with_404(
    edge: TestClient[Any, Any], nested_id: str, target: str, page: str
) -> None:
    status, body, headers = await fetch(edge, nested_id, target)
    assert (status, body) == (404, NESTED[page])
    assert "ETag" not in headers
    assert headers["Cache-Control"] == "no-store"  # as on Pages: a 404 is never stored
    status, body, _ = await fetch(edge, nested_id, target, method="HEAD")
    assert (status, body) == (404, b"")


@pytest.mark.parametrize("target", ["/settings/profile", "/deep/a/b/c/", "/users/42?tab=posts"])
async def test_a_single_page_app_answers_its_routes_with_index_html(
    edge: TestClient[Any, Any], spa_id: str, target: str
) -> None:
    status, body, headers = await fetch(edge, spa_id, target)
    assert (status, body) == (200, SPA["/index.html"])
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    # The answer is index.html's representation: its strong ETag, and a 304 for it.
    _, _, index_headers = await fetch(edge, spa_id, "/")
    assert headers["ETag"] == index_headers["ETag"]
    status, body, _ = await fetch(edge, spa_id, target, headers={"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")


@pytest.mark.parametrize(
    "target",
    [
        "/assets/index-Zq9Lm2Xc.js",  # an old build's asset: fingerprinted
        "/assets/missing.css",
        "/favicon.ico",
        "/data.json",
        "/robots.txt",
    ],
)
async def test_a_single_page_app_answers_missing_files_with_a_real_404(
    edge: TestClient[Any, Any], spa_id: str, target: str
) -> None:
    status, body, headers = await fetch(edge, spa_id, target)
    assert status == 404 and PLATFORM_MARK in body
    assert SPA["/index.html"] not in body
    assert headers["Cache-Control"] == "no-store"


async def test_a_single_page_app_still_serves_its_files(
    edge: TestClient[Any, Any], spa_id: str
) -> None:
    status, body, _ = await fetch(edge, spa_id, "/assets/index-BxT3k9aZ.js")
    assert (status, body) == (200, SPA["/assets/index-BxT3k9aZ.js"])
    assert (await fetch(edge, spa_id, "/favicon.svg"))[:2] == (200, SPA["/favicon.svg"])


async def test_a_single_page_app_with_a_nested_404_html_uses_it_there(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    site = {**SPA, "/admin/404.html": b"<h1>admin 404</h1>"}
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, site)
    assert (await fetch(edge, deployment_id, "/admin/users"))[:2] == (404, site["/admin/404.html"])
    assert (await fetch(edge, deployment_id, "/users"))[:2] == (200, SPA["/index.html"])


async def test_rules_run_before_the_single_page_app_fallback(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    site = {**SPA, "/_redirects": b"/old/*  /new/:splat  301\n/gone  /index.html  404\n"}
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, site)
    status, _, headers = await fetch(edge, deployment_id, "/old/page")
    assert (status, headers["Location"]) == (301, "/new/page")
    # Pages has no 404 rule: the line is skipped at publish, and the app answers.
    status, body, headers = await fetch(edge, deployment_id, "/gone")
    assert (status, body) == (200, SPA["/index.html"])
