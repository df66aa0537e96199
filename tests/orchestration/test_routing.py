"""Routing rules through the real pipeline: built, checked and published into the manifest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import dagster as dg

from deploy_platform.contracts.manifest import artifact_routing_key, manifest_key, source_key
from deploy_platform.contracts.records import SourceKind, Status
from deploy_platform.contracts.routing import headers_for, match_redirect
from deploy_platform.orchestration.assets import built_artifact, published_deployment
from deploy_platform.orchestration.resources.build_runner import NodeBuildRunner
from deploy_platform.publish.aliases import read_alias
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import (
    Deployer,
    make_record,
    pack_site,
    queue_upload,
    read_manifest,
    unique,
)


def materialization_metadata(
    result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition
) -> dict[str, object]:
    events = result.asset_materializations_for_node(asset.op.name)
    assert len(events) == 1
    return {key: value.value for key, value in events[0].metadata.items()}


def test_rule_files_are_published_as_routes_not_as_files(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    archive = pack_site(
        tmp_path,
        {
            "index.html": "home",
            "_redirects": "/old/* /new/:splat 301\n",
            "_headers": "/*\n  X-Frame-Options: DENY\n",
        },
    )
    record = queue_upload(state, store, unique("rules"), archive)

    result = deployer.run(record.id)

    assert result.success
    manifest = read_manifest(store, record.id)
    assert sorted(manifest.files) == ["/index.html"]
    assert manifest.routes is not None
    found = match_redirect(manifest.routes, "/old/a")
    assert found is not None and found[1] == "/new/a"
    assert headers_for(manifest.routes, "/") == {"X-Frame-Options": "DENY"}
    meta = materialization_metadata(result, published_deployment)
    assert meta["redirect_rules"] == 1 and meta["header_rules"] == 1


def test_bad_rule_lines_are_warnings_and_fatal_only_with_strict_rules(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("rules")
    live = queue_upload(state, store, project, pack_site(tmp_path, {"index.html": "live"}))
    assert deployer.run(live.id).success
    bad_site = {"index.html": "new", "_redirects": "/a /b 301\n/store id=:id /b 301\n"}
    archive = pack_site(tmp_path, bad_site)
    warned = queue_upload(state, store, project, archive)

    assert deployer.run(warned.id).success
    assert state.get(warned.id).warnings == (
        "_redirects line 2: skipped: expected exactly 2 or 3 whitespace-separated tokens, got 4",
    )
    routes = read_manifest(store, warned.id).routes
    assert routes is not None and [r.source for r in routes.redirects] == ["/a"]

    # With the project's strict_rules, the same file fails readably and leaves the alias.
    strict = dataclasses.replace(
        make_record(project=project, source=SourceKind.UPLOAD, ref=None),
        build={"strict_rules": True},
    )
    store.put_file(source_key(strict.id), archive, "application/gzip")
    state.create(strict)
    result = deployer.run(strict.id)

    assert not result.success
    failed = state.get(strict.id)
    assert failed.status is Status.FAILED
    assert failed.error is not None and "_redirects line 2: skipped" in failed.error
    assert not store.exists(manifest_key(strict.id))
    assert read_alias(store, project) == warned.id and state.get_alias(project) == warned.id


def test_vercel_json_and_netlify_toml_rules_reach_the_manifest(
    tmp_path: Path,
    deployer: Deployer,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
) -> None:
    # A static site (no package.json): the real runner detects it and installs nothing.
    deployer.resources = {
        **resources,
        "build_runner": NodeBuildRunner(tool_cache_dir=str(tmp_path / "tools")),
    }
    vercel = {"redirects": [{"source": "/v/:slug", "destination": "/vv/:slug"}]}
    netlify = '[[headers]]\nfor = "/*"\n[headers.values]\nX-From = "netlify"\n'
    archive = pack_site(
        tmp_path,
        {
            "index.html": "home",
            "vercel.json": json.dumps(vercel),
            "netlify.toml": netlify,
            "_redirects": "/f /ff 302\n",
        },
    )
    record = queue_upload(state, store, unique("cfg"), archive)

    result = deployer.run(record.id)

    assert result.success, state.get(record.id).error
    stored = json.loads(store.get_bytes(artifact_routing_key(record.id)))
    assert stored["vercel"] == vercel
    assert materialization_metadata(result, built_artifact)["routing_config"] == "netlify, vercel"
    routes = read_manifest(store, record.id).routes
    assert routes is not None
    assert [r.origin for r in routes.redirects] == ["_redirects line 1", "vercel.json redirects[0]"]
    found = match_redirect(routes, "/v/x")
    assert found is not None and found[0].status == 308 and found[1] == "/vv/x"
    assert headers_for(routes, "/") == {"X-From": "netlify"}


def test_a_bad_vercel_json_rule_names_the_rule(
    tmp_path: Path,
    deployer: Deployer,
    resources: dict[str, Any],
    state: PlatformState,
    store: ObjectStore,
) -> None:
    deployer.resources = {
        **resources,
        "build_runner": NodeBuildRunner(tool_cache_dir=str(tmp_path / "tools")),
    }
    vercel = {"rewrites": [{"source": "/api/(.*)", "destination": "https://api.example/$1"}]}
    archive = pack_site(tmp_path, {"index.html": "x", "vercel.json": json.dumps(vercel)})
    record = queue_upload(state, store, unique("cfg"), archive)

    result = deployer.run(record.id)

    assert not result.success
    error = state.get(record.id).error
    assert error is not None and "vercel.json rewrites[0]: a 200 rewrite to another site" in error
    assert not store.exists(manifest_key(record.id))
