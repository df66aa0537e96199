"""Routing rules at publish time: into the manifest, never served. A bad `_redirects` /
`_headers` line is a warning (fatal with strict_rules); bad netlify.toml / vercel.json
rules stop everything, as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import Manifest, manifest_key
from deploy_platform.contracts.routing import RoutingError, headers_for, match_redirect
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage.local import LocalObjectStore


def site(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_rule_files_become_manifest_routes_and_are_not_published(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    root = site(
        tmp_path / "site",
        {
            "index.html": "home",
            "_redirects": "/old /new 301\n",
            "_headers": "/*\n  X-Frame-Options: DENY\n",
            # Only the top-level files are rules, as on Netlify and Pages.
            "docs/_redirects": "not a rule file",
        },
    )
    deployment = new_deployment_id()

    published = publish_directory(
        store,
        deployment,
        root,
        routing_config={"vercel": {"rewrites": [{"source": "/app/:p*", "destination": "/"}]}},
    )

    stored = Manifest.from_json(store.get_bytes(manifest_key(deployment)))
    assert sorted(stored.files) == ["/docs/_redirects", "/index.html"]
    assert published.files == 2
    assert stored.routes is not None and stored.routes == published.manifest.routes
    found = match_redirect(stored.routes, "/old")
    assert found is not None and found[1] == "/new"
    found = match_redirect(stored.routes, "/app/x")
    assert found is not None and found[0].status == 200
    assert headers_for(stored.routes, "/") == {"X-Frame-Options": "DENY"}
    assert published.warnings == ()


def test_a_site_without_rules_keeps_the_manifest_as_it_was(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    deployment = new_deployment_id()
    publish_directory(store, deployment, site(tmp_path / "site", {"index.html": "x"}))
    raw = store.get_bytes(manifest_key(deployment))
    assert b"routes" not in raw
    assert Manifest.from_json(raw).routes is None


def test_bad_rule_file_lines_are_warnings_and_the_rest_is_published(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    files = {
        "index.html": "x",
        "_redirects": "/a\n/b /c 999\n/d /e\n",
        "_headers": "/*\n  Content-Length: 1\n  X-A: b\n",
    }
    deployment = new_deployment_id()
    published = publish_directory(store, deployment, site(tmp_path / "site", files))
    assert published.warnings == (
        "_redirects line 1: skipped: expected exactly 2 or 3 whitespace-separated tokens, got 1",
        "_redirects line 2: skipped: valid status codes are 200, 301, 302 (default), 303, 307 "
        "and 308; got 999",
        "_headers line 2: skipped: Content-Length frames the body on the connection, so only "
        "the server sets it",
    )
    stored = Manifest.from_json(store.get_bytes(manifest_key(deployment)))
    assert stored.routes is not None
    assert [rule.source for rule in stored.routes.redirects] == ["/d"]
    assert headers_for(stored.routes, "/") == {"X-A": "b"}
    # strict_rules turns the same warnings into a failure before anything is stored.
    other = LocalObjectStore(tmp_path / "other")
    with pytest.raises(RoutingError, match="3 rule line"):
        publish_directory(
            other, new_deployment_id(), site(tmp_path / "site", files), strict_rules=True
        )
    assert list(other.list()) == []


@pytest.mark.parametrize(
    ("files", "config", "message"),
    [
        ({}, {"netlify": {"redirects": [{"from": "/a"}]}}, "netlify.toml [[redirects]] #1: to"),
        ({}, {"vercel": {"routes": []}}, "vercel.json: routes is not supported"),
    ],
)
def test_bad_rules_fail_before_anything_is_stored(
    tmp_path: Path, files: dict[str, str], config: dict[str, object] | None, message: str
) -> None:
    store = LocalObjectStore(tmp_path / "store")
    root = site(tmp_path / "site", {"index.html": "x", **files})
    with pytest.raises(RoutingError) as raised:
        publish_directory(store, new_deployment_id(), root, routing_config=config)
    assert message in str(raised.value)
    assert list(store.list()) == []


def test_unreadable_or_huge_rule_files_are_warnings_too(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    root = site(tmp_path / "site", {"index.html": "x"})
    (root / "_redirects").write_bytes(b"/a /b\n/caf\xe9 /c\n/d /e 301\n")
    (root / "_headers").write_bytes(b"/*\n  X-A: b\n" + b"# padding\n" * 120_000)
    deployment = new_deployment_id()
    published = publish_directory(store, deployment, root)
    assert published.warnings == (
        "_redirects: not UTF-8 text (invalid continuation byte at byte 10); "
        "the bytes that are not were replaced",
        "_headers: skipped everything after the first 1024 KiB",
    )
    stored = Manifest.from_json(store.get_bytes(manifest_key(deployment)))
    assert stored.routes is not None
    assert [rule.source for rule in stored.routes.redirects] == ["/a", "/caf%EF%BF%BD", "/d"]
    assert headers_for(stored.routes, "/") == {"X-A": "b"}
