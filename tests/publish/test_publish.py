"""publish_directory and the alias pointers, on a real local store and real Redis."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from deploy_platform.contracts.errors import UnsafeArchive
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import Manifest, alias_key, blob_key, manifest_key
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind
from deploy_platform.publish.aliases import (
    move_alias_if_newer,
    point_alias,
    read_alias,
    read_alias_pointer,
)
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState


class OrderedStore(LocalObjectStore):
    """A real local store that remembers the order in which keys were written."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes: list[str] = []

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        super().put_bytes(key, data, content_type)
        self.writes.append(key)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        super().put_file(key, path, content_type)
        self.writes.append(key)


def write_site(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


SITE = {
    "index.html": "<h1>home</h1>",
    "about/index.html": "<h1>about</h1>",
    "css/site.css": "body{color:red}",
    "copy-of-home.html": "<h1>home</h1>",
    ".well-known/security.txt": "Contact: mailto:sec@example.com",
}


def test_publish_uploads_bodies_by_content_and_writes_the_manifest_last(
    tmp_path: Path, local_store_root: Path
) -> None:
    store = OrderedStore(local_store_root)
    site = write_site(tmp_path / "site", SITE)
    dep = new_deployment_id()

    result = publish_directory(store, dep, site)

    assert store.writes[-1] == manifest_key(dep)
    manifest = Manifest.from_json(store.get_bytes(manifest_key(dep)))
    assert sorted(manifest.files) == sorted("/" + name for name in SITE)
    for name, text in SITE.items():
        entry = manifest.files["/" + name]
        assert entry.blob == sha(text)
        assert entry.size == len(text)
        assert store.get_bytes(blob_key(entry.blob)) == text.encode()
    assert manifest.files["/css/site.css"].content_type == "text/css; charset=utf-8"
    # Two files share one body: five files, four uploads, the duplicate counted as reused.
    assert (result.files, result.files_uploaded, result.files_reused) == (5, 4, 1)
    assert result.bytes == sum(len(t) for t in SITE.values())
    assert result.bytes_reused == len(SITE["index.html"])
    assert result.bytes_uploaded == result.bytes - result.bytes_reused


def test_second_publish_with_one_changed_file_uploads_exactly_one_body(
    tmp_path: Path, local_store_root: Path
) -> None:
    store = OrderedStore(local_store_root)
    first = write_site(tmp_path / "v1", SITE)
    publish_directory(store, new_deployment_id(), first)
    store.writes.clear()

    second = write_site(tmp_path / "v2", {**SITE, "css/site.css": "body{color:blue}"})
    dep = new_deployment_id()
    result = publish_directory(store, dep, second)

    assert store.writes == [blob_key(sha("body{color:blue}")), manifest_key(dep)]
    assert (result.files_uploaded, result.bytes_uploaded) == (1, len("body{color:blue}"))
    assert result.files_reused == 4


def test_symlink_out_of_the_tree_is_refused_and_nothing_is_published(
    tmp_path: Path, local_store_root: Path
) -> None:
    store = OrderedStore(local_store_root)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    site = write_site(tmp_path / "site", {"index.html": "hi"})
    os.symlink(secret, site / "leak.txt")
    dep = new_deployment_id()

    with pytest.raises(UnsafeArchive, match="leak.txt"):
        publish_directory(store, dep, site)
    assert not store.exists(manifest_key(dep))


def test_symlink_inside_the_tree_publishes_its_target(
    tmp_path: Path, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    site = write_site(tmp_path / "site", {"index.html": "hi", "docs/a.html": "a"})
    os.symlink("docs", site / "latest")
    dep = new_deployment_id()

    manifest = publish_directory(store, dep, site).manifest

    assert manifest.files["/latest/a.html"].blob == sha("a")


def record(dep: str, queued_at: float) -> DeploymentRecord:
    return DeploymentRecord(
        id=dep,
        project="docs",
        source=SourceKind.UPLOAD,
        environment=Environment.PRODUCTION,
        aliases=("docs",),
        timestamps={"queued": queued_at},
    )


def test_point_alias_writes_the_durable_pointer_then_the_index(
    state: PlatformState, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    first, second = new_deployment_id(), new_deployment_id()
    pubsub = state.redis.pubsub()
    pubsub.subscribe(state.key("alias-changed"))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]

    assert read_alias(store, "docs") is None
    assert point_alias(store, state, "docs", first) is None
    assert point_alias(store, state, "docs", second) == first

    pointer = json.loads(store.get_bytes(alias_key("docs")))
    assert pointer["deployment"] == second
    assert pointer["previous"] == first
    assert isinstance(pointer["updated_at"], float)
    assert read_alias(store, "docs") == second
    assert state.get_alias("docs") == second
    messages = [pubsub.get_message(timeout=5) for _ in range(2)]
    assert [m["data"] for m in messages if m] == [b"docs", b"docs"]
    pubsub.close()


def test_an_older_deployment_finishing_late_does_not_take_the_alias_back(
    state: PlatformState, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    older, newer = new_deployment_id(), new_deployment_id()
    state.create(record(older, 1000.0))
    state.create(record(newer, 2000.0))

    assert move_alias_if_newer(store, state, "docs", newer).moved
    late = move_alias_if_newer(store, state, "docs", older)

    assert not late.moved and late.current == newer
    assert read_alias(store, "docs") == newer and state.get_alias("docs") == newer
    # A rollback is explicit and always moves it.
    assert point_alias(store, state, "docs", older) == newer
    assert read_alias(store, "docs") == older
    assert read_alias_pointer(store, "docs") is not None


def test_a_symlink_loop_ends(tmp_path: Path, local_store_root: Path) -> None:
    store = LocalObjectStore(local_store_root)
    site = write_site(tmp_path / "site", {"index.html": "hi", "docs/a.html": "a"})
    os.symlink("..", site / "docs" / "up")

    manifest = publish_directory(store, new_deployment_id(), site).manifest

    # A link to an ancestor can only make endless paths: it is left out, the rest published.
    assert sorted(manifest.files) == ["/docs/a.html", "/index.html"]


def test_hidden_files_are_not_published_but_well_known_ones_are(
    tmp_path: Path, local_store_root: Path
) -> None:
    """Guards the dotfile policy: a static site published from its repository root."""
    store = OrderedStore(local_store_root)
    site = write_site(
        tmp_path / "site",
        {
            "index.html": "<h1>home</h1>",
            ".env": "API_TOKEN=do-not-serve",
            ".git/config": "[remote] url = https://token@example.com/repo",
            ".git/HEAD": "ref: refs/heads/main",
            "docs/.env.local": "SECRET=local",
            ".DS_Store": "finder",
            ".well-known/security.txt": "Contact: mailto:sec@example.com",
            ".well-known/.hidden": "still hidden",
        },
    )
    dep = new_deployment_id()
    result = publish_directory(store, dep, site)

    assert sorted(result.manifest.files) == ["/.well-known/security.txt", "/index.html"]
    stored = {key for key in store.writes if key.startswith("blobs/")}
    for secret in ("API_TOKEN=do-not-serve", "SECRET=local", "ref: refs/heads/main"):
        assert blob_key(sha(secret)) not in stored


def test_publishing_reports_compression_each_upload_count_and_the_manifest(
    tmp_path: Path, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    big = "body { color: red }\n" * 200  # compressible and over MIN_SIZE: gets br and gzip
    site = write_site(tmp_path / "site", {**SITE, "css/big.css": big})
    reported: list[tuple[str, str]] = []

    publish_directory(
        store,
        new_deployment_id(),
        site,
        progress=lambda step, detail: reported.append((step, detail)),
    )

    steps = [step for step, _ in reported]
    assert steps.index("compress") < steps.index("upload") < steps.index("manifest")
    assert reported[steps.index("compress")][1].startswith("compressed 1 file (")
    uploads = [detail for step, detail in reported if step == "upload"]
    # Five distinct bodies and big.css's two variants; the last count is always said.
    assert uploads[0].startswith("uploading 7 bodies (")
    assert uploads[-1] == "uploaded 7 of 7 bodies"
    assert reported[-1] == ("manifest", "manifest written (6 files)")

    # Published again: nothing to upload, and it says so.
    reported.clear()
    publish_directory(
        store,
        new_deployment_id(),
        site,
        progress=lambda step, detail: reported.append((step, detail)),
    )
    assert ("upload", "nothing to upload: 7 bodies already stored") in reported
