"""Precompressed variants: which files get them, how they are stored and recorded."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path

import brotli
import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.manifest import (
    BlobRef,
    FileEntry,
    InvalidManifest,
    Manifest,
    blob_key,
    manifest_key,
)
from deploy_platform.publish.compression import MIN_SIZE, is_compressible
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.publish.variants import variants_key
from deploy_platform.storage.local import LocalObjectStore
from tests.publish.test_publish import OrderedStore

# Text that compresses well, above the size floor.
SCRIPT = b"".join(b"export function f%d(x) { return x * %d; }\n" % (i, i) for i in range(200))
STYLE = b"".join(b".c%d { color: #%06x; margin: %dpx }\n" % (i, i * 99, i) for i in range(100))
NOISE = random.Random(4).randbytes(8 * 1024)  # does not compress


def site(root: Path, files: dict[str, bytes]) -> Path:
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return root


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_compressible_files_get_brotli_and_gzip_variants_that_decompress_to_the_file(
    tmp_path: Path, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    result = publish_directory(
        store, new_deployment_id(), site(tmp_path / "site", {"app.js": SCRIPT, "site.css": STYLE})
    )

    for path, body in (("/app.js", SCRIPT), ("/site.css", STYLE)):
        entry = result.manifest.files[path]
        assert sorted(entry.encodings) == ["br", "gzip"]
        br, gz = entry.encodings["br"], entry.encodings["gzip"]
        br_body, gz_body = store.get_bytes(blob_key(br.blob)), store.get_bytes(blob_key(gz.blob))
        assert brotli.decompress(br_body) == body
        assert gzip.decompress(gz_body) == body
        # content-addressed like every blob, and recorded with their real sizes
        assert (br.blob, br.size) == (sha(br_body), len(br_body))
        assert (gz.blob, gz.size) == (sha(gz_body), len(gz_body))
        assert br.size < gz.size < entry.size
        # the entry itself still describes the uncompressed body
        assert (entry.blob, entry.size) == (sha(body), len(body))
    assert result.variants == 4
    assert result.variants_uploaded == 4
    assert result.variant_bytes == sum(
        ref.size for e in result.manifest.files.values() for ref in e.encodings.values()
    )


@pytest.mark.parametrize(
    ("name", "body", "why"),
    [
        ("tiny.js", b"console.log(1)\n" * 10, "smaller than the floor"),
        ("photo.png", SCRIPT, "an image type that is already compressed"),
        ("font.woff2", SCRIPT, "a compressed font format"),
        ("bundle.zip", SCRIPT, "an archive"),
        ("random.txt", NOISE, "compression would not save enough"),
        ("app.js.br", brotli.compress(SCRIPT), "a site's own .br file is brotli, not text"),
    ],
)
def test_files_that_would_not_gain_get_no_variants(
    tmp_path: Path, local_store_root: Path, name: str, body: bytes, why: str
) -> None:
    store = OrderedStore(local_store_root)
    result = publish_directory(store, new_deployment_id(), site(tmp_path / "site", {name: body}))

    assert result.manifest.files["/" + name].encodings == {}, why
    assert result.variants == 0
    assert not [key for key in store.writes if key.startswith("blobs/")][1:]  # only the body


def test_the_floor_is_inclusive(tmp_path: Path, local_store_root: Path) -> None:
    body = (b"a" * 40 + b"\n") * (MIN_SIZE // 41 + 1)
    store = LocalObjectStore(local_store_root)
    result = publish_directory(
        store,
        new_deployment_id(),
        site(tmp_path / "site", {"at.txt": body[:MIN_SIZE], "below.txt": body[: MIN_SIZE - 1]}),
    )
    assert sorted(result.manifest.files["/at.txt"].encodings) == ["br", "gzip"]
    assert result.manifest.files["/below.txt"].encodings == {}


def test_the_same_body_under_an_incompressible_name_is_offered_uncompressed(
    tmp_path: Path, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    result = publish_directory(
        store, new_deployment_id(), site(tmp_path / "site", {"a.txt": SCRIPT, "a.bin": SCRIPT})
    )
    assert sorted(result.manifest.files["/a.txt"].encodings) == ["br", "gzip"]
    assert result.manifest.files["/a.bin"].encodings == {}
    assert result.variants == 2


def test_a_redeploy_does_not_upload_variants_the_store_already_holds(
    tmp_path: Path, local_store_root: Path
) -> None:
    store = OrderedStore(local_store_root)
    publish_directory(
        store, new_deployment_id(), site(tmp_path / "v1", {"app.js": SCRIPT, "site.css": STYLE})
    )
    store.writes.clear()

    changed = STYLE + b".new { color: blue }\n"
    dep = new_deployment_id()
    result = publish_directory(
        store, dep, site(tmp_path / "v2", {"app.js": SCRIPT, "site.css": changed})
    )

    entry = result.manifest.files["/site.css"]
    expected = {blob_key(entry.blob)} | {blob_key(ref.blob) for ref in entry.encodings.values()}
    blobs = [key for key in store.writes if key.startswith("blobs/")]
    assert sorted(blobs) == sorted(expected)  # the changed file and its two variants only
    assert variants_key(sha(changed)) in store.writes  # and the record of what they are
    assert store.writes[-1] == manifest_key(dep)
    assert (result.files_uploaded, result.variants_uploaded, result.variants) == (1, 2, 4)
    # The unchanged file's manifest entry names the variants stored the first time,
    # known from its record: only the changed file was compressed.
    unchanged = result.manifest.files["/app.js"]
    assert all(store.exists(blob_key(ref.blob)) for ref in unchanged.encodings.values())
    assert result.files_compressed == 1


def test_a_record_is_not_trusted_when_its_blobs_are_gone_or_its_settings_differ(
    tmp_path: Path, local_store_root: Path
) -> None:
    store = LocalObjectStore(local_store_root)
    root = site(tmp_path / "site", {"app.js": SCRIPT, "site.css": STYLE})
    first = publish_directory(store, new_deployment_id(), root).manifest
    assert store.exists(variants_key(sha(SCRIPT))) and store.exists(variants_key(sha(STYLE)))

    store.delete(blob_key(first.files["/app.js"].encodings["br"].blob))
    record = json.loads(store.get_bytes(variants_key(sha(STYLE))))
    store.put_bytes(variants_key(sha(STYLE)), json.dumps({**record, "settings": "older"}).encode())
    again = publish_directory(store, new_deployment_id(), root)

    assert again.files_compressed == 2
    assert again.variants_uploaded == 1  # the deleted one, made and stored again
    assert again.manifest.files == first.files
    assert store.exists(blob_key(first.files["/app.js"].encodings["br"].blob))


@pytest.mark.parametrize("record", [b"not json", b"[]", b'{"settings": 1}', b"{}"])
def test_an_unreadable_record_means_compressing_again(
    tmp_path: Path, local_store_root: Path, record: bytes
) -> None:
    store = LocalObjectStore(local_store_root)
    root = site(tmp_path / "site", {"app.js": SCRIPT})
    first = publish_directory(store, new_deployment_id(), root).manifest
    store.put_bytes(variants_key(sha(SCRIPT)), record)
    again = publish_directory(store, new_deployment_id(), root)
    assert again.files_compressed == 1
    assert again.manifest.files == first.files


def test_a_record_of_no_useful_variants_is_kept_too(tmp_path: Path, local_store_root: Path) -> None:
    store = LocalObjectStore(local_store_root)
    root = site(tmp_path / "site", {"random.txt": NOISE})
    publish_directory(store, new_deployment_id(), root)
    again = publish_directory(store, new_deployment_id(), root)
    assert again.files_compressed == 0
    assert again.manifest.files["/random.txt"].encodings == {}


def test_variants_are_the_same_bytes_every_time(tmp_path: Path, local_store_root: Path) -> None:
    """Deterministic output (no gzip timestamp) is what lets a redeploy reuse variant blobs."""
    store = LocalObjectStore(local_store_root)
    first = publish_directory(store, new_deployment_id(), site(tmp_path / "a", {"app.js": SCRIPT}))
    second = publish_directory(
        store, new_deployment_id(), site(tmp_path / "b", {"x/app.js": SCRIPT})
    )
    assert first.manifest.files["/app.js"].encodings == second.manifest.files["/x/app.js"].encodings


def test_manifest_round_trips_encodings_and_omits_them_when_there_are_none() -> None:
    with_variants = FileEntry.for_blob(
        "/app.js", "a" * 64, 5000, {"br": BlobRef("b" * 64, 900), "gzip": BlobRef("c" * 64, 1100)}
    )
    plain = FileEntry.for_blob("/logo.png", "d" * 64, 5000)
    manifest = Manifest("abcdefghij23", {"/app.js": with_variants, "/logo.png": plain})

    raw = json.loads(manifest.to_json())
    assert raw["files"]["/app.js"]["encodings"] == {
        "br": {"blob": "b" * 64, "size": 900},
        "gzip": {"blob": "c" * 64, "size": 1100},
    }
    assert "encodings" not in raw["files"]["/logo.png"]
    assert Manifest.from_json(manifest.to_json()).files == manifest.files


def test_a_manifest_written_before_variants_existed_still_loads() -> None:
    old = {
        "version": 1,
        "deployment": "abcdefghij23",
        "created_at": 1.0,
        "files": {
            "/index.html": {
                "blob": "a" * 64,
                "size": 3,
                "content_type": "text/html; charset=utf-8",
                "etag": f'"{"a" * 64}"',
                "headers": {},
            }
        },
    }
    assert Manifest.from_json(json.dumps(old)).files["/index.html"].encodings == {}


@pytest.mark.parametrize(
    "encodings",
    [
        [],
        {"br": "b" * 64},
        {"br": {"blob": "not-a-hash", "size": 1}},
        {"br": {"blob": "b" * 64, "size": -1}},
        {"br": {"blob": "b" * 64, "size": "12"}},
        {"br": {"blob": "b" * 64}},
        {"identity": {"blob": "b" * 64, "size": 1}},
        {"b r": {"blob": "b" * 64, "size": 1}},
    ],
)
def test_malformed_encodings_are_refused(encodings: object) -> None:
    raw = {
        "version": 1,
        "deployment": "abcdefghij23",
        "files": {
            "/a.js": {
                "blob": "a" * 64,
                "size": 3,
                "content_type": "text/javascript",
                "etag": '"x"',
                "encodings": encodings,
            }
        },
    }
    with pytest.raises(InvalidManifest):
        Manifest.from_json(json.dumps(raw))


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html; charset=utf-8", True),
        ("text/javascript; charset=utf-8", True),
        ("application/json", True),
        ("image/svg+xml", True),
        ("application/wasm", True),
        ("application/manifest+json; charset=utf-8", True),
        ("image/vnd.microsoft.icon", True),
        ("image/png", False),
        ("image/jpeg", False),
        ("font/woff2", False),
        ("application/zip", False),
        ("application/gzip", False),
        ("application/octet-stream", False),
    ],
)
def test_is_compressible(content_type: str, expected: bool) -> None:
    assert is_compressible(content_type) is expected
