"""The three assets on a real Dagster instance, real Redis, a local store and real git."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from deploy_platform.contracts.manifest import artifact_key, blob_key, manifest_key, source_key
from deploy_platform.contracts.records import Status
from deploy_platform.orchestration.assets import (
    built_artifact,
    published_deployment,
    source_archive,
)
from deploy_platform.publish.aliases import read_alias
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.orchestration.support import (
    Deployer,
    evil_archive,
    pack_site,
    queue_git,
    queue_upload,
    read_manifest,
    served_text,
    unique,
)

SITE = {
    "index.html": "<h1>v1</h1>",
    "about.html": "<h1>about</h1>",
    "css/site.css": "body { color: red }",
    "js/app.js": "console.log('hi')",
}


def materialization_metadata(
    result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition
) -> dict[str, object]:
    events = result.asset_materializations_for_node(asset.op.name)
    assert len(events) == 1
    return {key: value.value for key, value in events[0].metadata.items()}


def test_git_deployment_goes_ready_with_manifest_blobs_and_alias(
    git_http, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("docs")
    repo = git_http.create_repo(unique("site"), SITE)
    record = queue_git(state, repo, project)

    result = deployer.run(record.id)

    assert result.success
    done = state.get(record.id)
    assert done.status is Status.READY and done.error is None
    assert (done.files, done.bytes_total) == (4, sum(len(t) for t in SITE.values()))
    assert (done.files_uploaded, done.files_reused) == (4, 0)
    assert done.framework == "static"
    assert {"cloning", "building", "publishing", "ready"} <= set(done.timestamps)
    assert store.exists(source_key(record.id)) and store.exists(artifact_key(record.id))
    manifest = read_manifest(store, record.id)
    assert sorted(manifest.files) == sorted("/" + name for name in SITE)
    for entry in manifest.files.values():
        assert store.exists(blob_key(entry.blob))
    assert served_text(store, record.id, "/css/site.css") == SITE["css/site.css"]
    assert read_alias(store, project) == record.id
    assert state.get_alias(project) == record.id

    source_meta = materialization_metadata(result, source_archive)
    assert source_meta["commit"] == record.commit
    assert source_meta["ref"] == "main"
    assert source_meta["repo"] == repo.url
    assert source_meta["files"] == 4
    built_meta = materialization_metadata(result, built_artifact)
    assert built_meta["framework"] == "static" and built_meta["output_dir"] == "./"
    published_meta = materialization_metadata(result, published_deployment)
    assert published_meta["bytes_uploaded"] == done.bytes_total
    assert published_meta["url"] == record.urls["deployment"]
    assert published_meta["url_production"] == record.urls["production"]
    # The run's milestones, written into the record as they happened.
    milestones = [(e["stage"], e["step"], e["detail"]) for e in done.progress]
    assert milestones[0][:2] == ("cloning", "fetch")
    assert milestones[0][2].startswith(f"fetched commit {str(record.commit)[:12]}: 4 files, ")
    assert milestones[1] == ("building", "output", "static site: publishing the repository root")
    assert milestones[2][:2] == ("building", "store")
    assert milestones[2][2].startswith("output stored (")
    assert ("publishing", "upload", "uploaded 4 of 4 bodies") in milestones
    assert milestones[-1] == ("publishing", "manifest", "manifest written (4 files)")


def test_uploaded_archive_deploys_from_its_public_dir(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("upload")
    archive = pack_site(
        tmp_path, {"README.md": "# notes", "public/index.html": "<h1>up</h1>", "public/a.txt": "a"}
    )
    record = queue_upload(state, store, project, archive)

    result = deployer.run(record.id)

    assert result.success
    assert state.get(record.id).status is Status.READY
    assert sorted(read_manifest(store, record.id).files) == ["/a.txt", "/index.html"]
    assert served_text(store, record.id, "/index.html") == "<h1>up</h1>"
    assert read_alias(store, project) == record.id
    meta = materialization_metadata(result, source_archive)
    assert meta["source"] == "upload"
    assert meta["archive_bytes"] == archive.stat().st_size
    assert materialization_metadata(result, built_artifact)["output_dir"] == "public/"


def test_second_deploy_with_one_changed_file_uploads_one_body_and_moves_the_alias(
    git_http, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("docs")
    repo = git_http.create_repo(unique("site"), SITE)
    first = queue_git(state, repo, project)
    assert deployer.run(first.id).success

    repo.commit({"css/site.css": "body { color: blue }"}, message="blue")
    second = queue_git(state, repo, project)
    assert deployer.run(second.id).success

    done = state.get(second.id)
    assert (done.files_uploaded, done.bytes_uploaded) == (1, len("body { color: blue }"))
    assert ("publishing", "upload", "uploaded 1 of 1 body") in [
        (e["stage"], e["step"], e["detail"]) for e in done.progress
    ]
    assert done.files_reused == 3
    # What the deployments list shows: the commit's subject and author, read from git.
    assert (done.commit_message, done.commit_author) == ("blue", "Fixture Author")
    assert read_alias(store, project) == second.id
    assert state.get_alias(project) == second.id
    # The first deployment is immutable: its URL still serves the old content.
    assert served_text(store, first.id, "/css/site.css") == "body { color: red }"
    assert served_text(store, second.id, "/css/site.css") == "body { color: blue }"


def test_rematerializing_after_the_branch_moved_rebuilds_the_pinned_commit(
    git_http, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("docs")
    repo = git_http.create_repo(unique("site"), SITE)
    record = queue_git(state, repo, project)
    assert deployer.run(record.id).success
    repo.commit({"index.html": "<h1>v2 on the branch</h1>"}, message="v2")

    # As from the UI: each asset alone, then all three.
    for selection in ([source_archive], [built_artifact], [published_deployment], None):
        result = deployer.materialize(record.id, selection)
        assert result.success

    assert state.get(record.id).status is Status.READY
    # Each stage run again replaced its milestones: they are the last run's, once each.
    steps = [(e["stage"], e["step"]) for e in state.get(record.id).progress]
    assert steps == [
        ("cloning", "fetch"),
        ("building", "output"),
        ("building", "store"),
        ("publishing", "upload"),
        ("publishing", "manifest"),
    ]
    assert served_text(store, record.id, "/index.html") == "<h1>v1</h1>"
    assert materialization_metadata(result, source_archive)["commit"] == record.commit
    assert read_alias(store, project) == record.id


def test_nothing_to_publish_fails_readably_and_leaves_the_live_alias(
    git_http, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("docs")
    good_repo = git_http.create_repo(unique("good"), SITE)
    live = queue_git(state, good_repo, project)
    assert deployer.run(live.id).success
    # Hidden files are never published: this repository has nothing to serve.
    bad_repo = git_http.create_repo(unique("bad"), {".env": "SECRET=1"})
    bad = queue_git(state, bad_repo, project)

    result = deployer.run(bad.id)

    assert not result.success
    failed = state.get(bad.id)
    assert failed.status is Status.FAILED
    assert failed.error is not None and "nothing to publish" in failed.error
    assert ".env" in failed.error
    assert not store.exists(manifest_key(bad.id))
    assert read_alias(store, project) == live.id and state.get_alias(project) == live.id


def test_a_site_without_index_html_is_published_with_a_warning(
    git_http, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    # Cloudflare Pages publishes any directory; so do we, and say what is missing.
    repo = git_http.create_repo(unique("noindex"), {"docs/guide.html": "<h1>guide</h1>"})
    record = queue_git(state, repo, unique("noindex"))

    result = deployer.run(record.id)

    assert result.success
    ready = state.get(record.id)
    assert ready.status is Status.READY
    assert any("no index.html in the repository root" in w for w in ready.warnings)
    assert served_text(store, record.id, "/docs/guide.html") == "<h1>guide</h1>"


def test_an_uploaded_directory_without_index_html_is_published_with_a_warning(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    archive = pack_site(tmp_path, {"report.html": "<h1>report</h1>", "data.csv": "a,b"})
    record = queue_upload(state, store, unique("upload"), archive)

    assert deployer.run(record.id).success
    ready = state.get(record.id)
    assert ready.status is Status.READY
    assert any(w.startswith("no index.html in the repository root") for w in ready.warnings)
    assert served_text(store, record.id, "/report.html") == "<h1>report</h1>"


def test_clone_of_a_missing_commit_fails_readably(
    git_http, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("docs")
    repo = git_http.create_repo(unique("site"), SITE)
    live = queue_git(state, repo, project)
    assert deployer.run(live.id).success
    gone = queue_git(state, repo, project).replace(commit="0123456789" * 4)
    state.update(gone.id, lambda r: r.replace(commit=gone.commit))

    result = deployer.run(gone.id)

    assert not result.success
    failed = state.get(gone.id)
    assert failed.status is Status.FAILED
    assert failed.error is not None and "0123456789" in failed.error
    assert not failed.error.startswith("internal error")
    assert not store.exists(source_key(gone.id))
    assert read_alias(store, project) == live.id


def test_unsafe_archive_fails_readably_and_leaves_the_live_alias(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    project = unique("upload")
    live = queue_upload(state, store, project, pack_site(tmp_path, {"index.html": "live"}))
    assert deployer.run(live.id).success
    evil = queue_upload(state, store, project, evil_archive(tmp_path))

    result = deployer.run(evil.id)

    assert not result.success
    failed = state.get(evil.id)
    assert failed.status is Status.FAILED
    assert failed.error is not None and "escaped.txt" in failed.error
    assert not failed.error.startswith("internal error")
    assert not store.exists(manifest_key(evil.id))
    assert read_alias(store, project) == live.id and state.get_alias(project) == live.id
    assert served_text(store, live.id, "/index.html") == "live"


def test_missing_uploaded_archive_fails_with_what_to_do(
    tmp_path: Path, deployer: Deployer, state: PlatformState, store: ObjectStore
) -> None:
    record = queue_upload(state, store, unique("upload"), pack_site(tmp_path, {"index.html": "x"}))
    store.delete(source_key(record.id))

    assert not deployer.run(record.id).success

    error = state.get(record.id).error
    assert error is not None and source_key(record.id) in error and "upload" in error
