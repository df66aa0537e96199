"""Redirects, rewrites and header rules served by the edge-origin over a real loopback server:
`_redirects` / `_headers` as Cloudflare Pages serves them, netlify.toml and vercel.json with
their own platforms' precedence, and older deployments' rules as they always were."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.build import sandbox
from deploy_platform.build.runner import BuildRequest, run_build
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import manifest_key
from deploy_platform.projects.domains import add_domain
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.serve.helpers import raw_request
from tests.support.deployments import point_alias, write_deployment

REDIRECTS = b"""\
# a site's moved pages (Cloudflare Pages syntax and precedence)
/blog/*              /news/:splat             301
/users/:id/posts     /people/:id              302
/about               /about-us
/styles.css          /new.css                 301!
/external            https://example.com/x    307
/app/*               /app/shell.html          200
/gone/*              /gone.html               404
/docs                /manual/                 200
/some%20page         /home                    301
/anchor              /target#section          302   # a fragment, then a comment
/with-query          /dest?from=rule          302
/old-port            https://cat.com:12345/
/app2/*              /app2/index.html         200
https://:id.localhost/whoami   /who/:id       302
"""
HEADERS = b"""\
    /*
      X-Frame-Options: DENY
    /assets/*
      Cache-Control: public, max-age=31536000, immutable
    /news/*
      X-Section: news
      Referrer-Policy: no-referrer
    /files/:name
      X-Name: file :name
    https://:id.localhost/hosted/*
      X-Host-Rule: :id :splat
"""
SITE = {
    "/index.html": b"<h1>home</h1>",
    "/about.html": b"<h1>about</h1>",
    "/about": b"the file at /about",
    "/styles.css": b"old css",
    "/new.css": b"new css",
    "/app/shell.html": b"<h1>the app shell</h1>",
    "/app/real.txt": b"a real file under /app",
    "/gone.html": b"<h1>that section is gone</h1>",
    "/manual/index.html": b"<h1>manual</h1>",
    "/news/today.html": b"news",
    "/files/a.txt": b"a",
    "/hosted/x.txt": b"x",
    "/assets/app-3f2a1c.js": b"console.log(1)",
    "/404.html": b"<h1>site 404</h1>",
    "/_redirects": REDIRECTS,
    "/_headers": HEADERS,
}


def host(label: str) -> dict[str, str]:
    return {"Host": f"{label}.localhost:8080"}


async def fetch(
    client: TestClient[Any, Any], label: str, path: str, **kwargs: Any
) -> tuple[int, bytes, Any]:
    headers = {**host(label), **kwargs.pop("headers", {})}
    async with client.request(
        kwargs.pop("method", "GET"), path, headers=headers, allow_redirects=False, **kwargs
    ) as response:
        return response.status, await response.read(), response.headers


@pytest.fixture
def site_id(store: LocalObjectStore) -> str:
    """A published deployment of SITE, with its `_redirects` and `_headers`."""
    deployment_id = new_deployment_id()
    write_deployment(store, deployment_id, SITE)
    return deployment_id


async def test_redirect_with_a_splat_keeps_the_query(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, _body, headers = await fetch(edge, site_id, "/blog/2024/hello?ref=rss")
    assert status == 301
    assert headers["Location"] == "/news/2024/hello?ref=rss"


async def test_redirect_with_placeholders(edge: TestClient[Any, Any], site_id: str) -> None:
    status, _body, headers = await fetch(edge, site_id, "/users/42/posts")
    assert status == 302
    assert headers["Location"] == "/people/42"
    # Pages matches exactly: a trailing slash is another path.
    status, _body, _headers = await fetch(edge, site_id, "/users/42/posts/")
    assert status == 404


async def test_external_redirect_and_a_port_in_the_target(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, _body, headers = await fetch(edge, site_id, "/external?a=1")
    assert (status, headers["Location"]) == (307, "https://example.com/x?a=1")
    status, _body, headers = await fetch(edge, site_id, "/old-port")
    assert (status, headers["Location"]) == (302, "https://cat.com:12345/")


async def test_rules_apply_before_files_with_pages_default_status(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    # Pages applies _redirects before it looks for a file: the file /about is shadowed.
    status, _body, headers = await fetch(edge, site_id, "/about")
    assert (status, headers["Location"]) == (302, "/about-us")
    status, _body, headers = await fetch(edge, site_id, "/styles.css")
    assert (status, headers["Location"]) == (301, "/new.css")


async def test_fragments_and_queries_in_the_destination(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, _body, headers = await fetch(edge, site_id, "/anchor?x=1")
    assert (status, headers["Location"]) == (302, "/target?x=1#section")
    status, _body, headers = await fetch(edge, site_id, "/with-query?x=1")
    assert (status, headers["Location"]) == (302, "/dest?from=rule")


async def test_a_percent_encoded_rule_matches_the_request_path(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, _body, headers = await fetch(edge, site_id, "/some%20page")
    assert (status, headers["Location"]) == (301, "/home")


async def test_a_host_rule_matches_on_the_platform_host(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, _body, headers = await fetch(edge, site_id, "/whoami")
    assert (status, headers["Location"]) == (302, f"/who/{site_id}")
    _status, _body, headers = await fetch(edge, site_id, "/hosted/x.txt")
    assert headers["X-Host-Rule"] == f"{site_id} x.txt"


async def test_host_rules_apply_on_custom_domains_and_alias_hosts(
    edge: TestClient[Any, Any], store: LocalObjectStore, state: PlatformState
) -> None:
    deployment = new_deployment_id()
    files = {
        "/index.html": b"home",
        "/_redirects": b"https://www.example.com/legacy/*  https://example.com/:splat  301\n",
        "/_headers": b"https://www.example.com/*\n  X-Domain: www\n"
        b"https://:project.localhost/*\n  X-Project: :project\n",
    }
    write_deployment(store, deployment, files)
    point_alias(store, state, "docs", deployment)
    add_domain(store, state, "www.example.com", "docs", "localhost")

    answer = await raw_request(edge, "/legacy/a/b?x=1", "WWW.Example.com.:8080")
    assert (answer.status, answer.headers["Location"]) == (301, "https://example.com/a/b?x=1")
    answer = await raw_request(edge, "/", "www.example.com")
    assert answer.headers["X-Domain"] == "www" and "X-Project" not in answer.headers
    answer = await raw_request(edge, "/", "docs.localhost:8080")
    assert answer.headers["X-Project"] == "docs" and "X-Domain" not in answer.headers
    answer = await raw_request(edge, "/legacy/a", "docs.localhost")
    assert (answer.status, answer.body) == (200, b"home")  # the rule names another host


async def test_a_200_rewrite_serves_the_target_file_in_place(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, body, headers = await fetch(edge, site_id, "/app/settings/profile")
    assert (status, body) == (200, SITE["/app/shell.html"])
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Location" not in headers
    etag = headers["ETag"]
    status, body, _headers = await fetch(
        edge, site_id, "/app/other", headers={"If-None-Match": etag}
    )
    assert (status, body) == (304, b"")
    # The rule applies before files: even a real file under /app/ gets the shell.
    status, body, _headers = await fetch(edge, site_id, "/app/real.txt")
    assert (status, body) == (200, SITE["/app/shell.html"])


async def test_a_rewrite_to_a_directory_serves_its_index(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, body, _headers = await fetch(edge, site_id, "/docs")
    assert (status, body) == (200, SITE["/manual/index.html"])


async def test_skipped_lines_do_nothing(edge: TestClient[Any, Any], site_id: str) -> None:
    # `/gone/* ... 404` (Pages has no 404 rule) and `/app2/* /app2/index.html 200` (a loop
    # against the clean-URL redirects) were skipped with a warning at publish time.
    status, body, _headers = await fetch(edge, site_id, "/gone/old-page")
    assert (status, body) == (404, SITE["/404.html"])
    status, body, _headers = await fetch(edge, site_id, "/app2/x")
    assert (status, body) == (404, SITE["/404.html"])


async def test_unmatched_missing_paths_still_get_the_sites_404(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    status, body, headers = await fetch(edge, site_id, "/nothing/here")
    assert (status, body) == (404, SITE["/404.html"])
    assert headers["X-Frame-Options"] == "DENY"


async def test_rule_files_are_not_served(edge: TestClient[Any, Any], site_id: str) -> None:
    for path in ("/_redirects", "/_headers"):
        status, body, _headers = await fetch(edge, site_id, path)
        assert (status, body) == (404, SITE["/404.html"])


async def test_header_rules_apply_by_path_and_may_replace_the_platforms(
    edge: TestClient[Any, Any], site_id: str
) -> None:
    _status, _body, headers = await fetch(edge, site_id, "/assets/app-3f2a1c.js")
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    _status, _body, headers = await fetch(edge, site_id, "/news/today")
    assert headers["X-Section"] == "news"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    _status, _body, headers = await fetch(edge, site_id, "/files/a.txt")
    assert headers["X-Name"] == "file a.txt"
    # Header rules follow the requested path, not a rewrite's target.
    _status, _body, headers = await fetch(edge, site_id, "/")
    assert "X-Section" not in headers and headers["X-Frame-Options"] == "DENY"


async def test_rules_stored_by_an_older_deployment_serve_as_before(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    """A manifest written before Pages parity: canonical rules, Netlify's shadowing."""
    old = new_deployment_id()
    write_deployment(store, old, {"/index.html": b"home", "/about": b"the file", "/x.html": b"x"})
    raw = json.loads(store.get_bytes(manifest_key(old)))
    raw["routes"] = {
        "redirects": [
            {
                "source": "/about",
                "destination": "/about-us",
                "status": 301,
                "force": False,
                "origin": "_redirects line 1",
            },
            {
                "source": "/blog/:splat*",
                "destination": "/news/:splat",
                "status": 301,
                "force": False,
                "origin": "_redirects line 2",
            },
        ],
        "headers": [
            {
                "source": "/*",
                "headers": [["X-Frame-Options", "DENY"]],
                "detach": [],
                "origin": "_headers line 1",
            },
        ],
    }
    store.put_bytes(manifest_key(old), json.dumps(raw).encode(), "application/json")
    status, body, headers = await fetch(edge, old, "/about")
    assert (status, body) == (200, b"the file")  # shadowed, as before
    assert headers["X-Frame-Options"] == "DENY"
    status, _body, headers = await fetch(edge, old, "/blog/a/?q=1")
    assert (status, headers["Location"]) == (301, "/news/a?q=1")  # trailing slash folded


async def test_a_site_without_rules_is_served_as_before(
    edge: TestClient[Any, Any], store: LocalObjectStore
) -> None:
    plain = new_deployment_id()
    write_deployment(store, plain, {"/index.html": b"plain", "/x.html": b"x"})
    status, body, headers = await fetch(edge, plain, "/x")
    assert (status, body) == (200, b"x")
    assert "X-Frame-Options" not in headers


# -- vercel.json and netlify.toml, from a build to the edge ---------------------------------


def build_and_publish(store: LocalObjectStore, tmp_path: Path, files: dict[str, str]) -> str:
    """Build a fixture tree with the real build runner, then publish it as the pipeline does."""
    source = tmp_path / "src"
    for name, text in files.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    outcome = run_build(
        source,
        BuildRequest(project="rules"),
        store=store,
        tool_cache=tmp_path / "tools",
        limits=sandbox.Limits(),
        log=lambda _line: None,
        output=lambda _line: None,
    )
    deployment_id = new_deployment_id()
    publish_directory(store, deployment_id, outcome.output_dir, routing_config=outcome.routing)
    return deployment_id


async def test_vercel_json_rules_end_to_end(
    edge: TestClient[Any, Any], store: LocalObjectStore, tmp_path: Path
) -> None:
    vercel = {
        "redirects": [
            {"source": "/old/:path*", "destination": "/new/:path*"},
            {"source": "/temp", "destination": "/index.html", "permanent": False},
        ],
        "rewrites": [{"source": "/(.*)", "destination": "/index.html"}],
        "headers": [{"source": "/(.*)", "headers": [{"key": "X-Robots-Hint", "value": "vercel"}]}],
    }
    deployment = build_and_publish(
        store,
        tmp_path,
        {
            "public/index.html": "<h1>spa</h1>",
            "public/page.html": "page",
            "vercel.json": json.dumps(vercel),
        },
    )
    status, _body, headers = await fetch(edge, deployment, "/old/a/b")
    assert (status, headers["Location"]) == (308, "/new/a/b")
    status, _body, headers = await fetch(edge, deployment, "/temp")
    assert (status, headers["Location"]) == (307, "/index.html")
    # Rewrites run after the file system: an existing file is served (at its clean URL;
    # /page.html redirects there), anything else is the SPA.
    status, _body, headers = await fetch(edge, deployment, "/page.html")
    assert (status, headers["Location"]) == (308, "/page")
    status, body, headers = await fetch(edge, deployment, "/page")
    assert (status, body) == (200, b"page")
    assert headers["X-Robots-Hint"] == "vercel"
    status, body, _headers = await fetch(edge, deployment, "/some/client/route")
    assert (status, body) == (200, b"<h1>spa</h1>")


async def test_netlify_toml_rules_end_to_end(
    edge: TestClient[Any, Any], store: LocalObjectStore, tmp_path: Path
) -> None:
    netlify = """\
[build]
publish = "site"

[[redirects]]
from = "/shop/*"
to = "/store/:splat"
status = 302

[[redirects]]
from = "/index.html"
to = "/welcome.html"
status = 200
force = true

[[headers]]
for = "/*"
[headers.values]
Referrer-Policy = "no-referrer"
"""
    deployment = build_and_publish(
        store,
        tmp_path,
        {
            "site/index.html": "index",
            "site/welcome.html": "welcome",
            "site/_redirects": "/from-file /elsewhere 301\n",
            "netlify.toml": netlify,
        },
    )
    status, _body, headers = await fetch(edge, deployment, "/shop/hats/red")
    assert (status, headers["Location"]) == (302, "/store/hats/red")
    status, body, headers = await fetch(edge, deployment, "/index.html")
    assert (status, body) == (200, b"welcome")
    assert headers["Referrer-Policy"] == "no-referrer"
    status, _body, headers = await fetch(edge, deployment, "/from-file")
    assert (status, headers["Location"]) == (301, "/elsewhere")
    # netlify.toml keeps Netlify's shadowing: an unforced rule never hides a file.
    status, body, _headers = await fetch(edge, deployment, "/welcome")
    assert (status, body) == (200, b"welcome")
