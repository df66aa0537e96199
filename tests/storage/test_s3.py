"""What only the S3 store does: pages, prefixes, multipart, and errors that say what to fix."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from deploy_platform.storage import ObjectStoreError
from deploy_platform.storage.s3 import S3ObjectStore
from tests.support.s3_fixtures import S3Server


class _Calls:
    """Counts the S3 API calls a store makes (botocore's own event hooks, no patching)."""

    def __init__(self, store: S3ObjectStore) -> None:
        self.counts: Counter[str] = Counter()
        store._client.meta.events.register("after-call.s3", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.counts[model.name] += 1


@pytest.fixture
def bucket(s3_server: S3Server) -> Iterator[str]:
    """A fresh bucket name (deleted afterwards)."""
    name = s3_server.make_bucket()
    yield name
    s3_server.delete_bucket(name)


def test_list_follows_every_page(s3_store: S3ObjectStore) -> None:
    for index in range(7):
        s3_store.put_bytes(f"deployments/{index}/manifest.json", b"{}")
    calls = _Calls(s3_store)

    keys = [info.key for info in s3_store.list("deployments/", page_size=2)]

    assert keys == [f"deployments/{index}/manifest.json" for index in range(7)]
    assert calls.counts["ListObjectsV2"] == 4  # 2 + 2 + 2 + 1


def test_missing_with_few_keys_asks_head_per_key(s3_store: S3ObjectStore) -> None:
    s3_store.put_bytes("blobs/a", b"1")
    calls = _Calls(s3_store)

    assert s3_store.missing(["blobs/a", "blobs/b", "blobs/c"]) == {"blobs/b", "blobs/c"}
    assert calls.counts == Counter({"HeadObject": 3})


def test_missing_with_many_keys_in_a_small_store_is_one_listing(
    s3_store: S3ObjectStore,
) -> None:
    present = [f"blobs/{index:04d}" for index in range(0, 60, 2)]
    for key in present:
        s3_store.put_bytes(key, b"1")
    wanted = [f"blobs/{index:04d}" for index in range(60)]
    calls = _Calls(s3_store)

    assert s3_store.missing(wanted) == set(wanted) - set(present)
    assert calls.counts == Counter({"ListObjectsV2": 1})


def test_keys_live_under_the_prefix(s3_server: S3Server, bucket: str) -> None:
    prod = s3_server.open_store(bucket, "env/prod")
    staging = s3_server.open_store(bucket, "env/staging")
    prod.put_bytes("aliases/docs.json", b"prod")
    staging.put_bytes("aliases/docs.json", b"staging")

    raw = s3_server.admin.list_objects_v2(Bucket=bucket)
    assert sorted(item["Key"] for item in raw["Contents"]) == [
        "env/prod/aliases/docs.json",
        "env/staging/aliases/docs.json",
    ]
    assert prod.get_bytes("aliases/docs.json") == b"prod"
    assert [info.key for info in staging.list()] == ["aliases/docs.json"]
    assert staging.missing(["aliases/docs.json", "aliases/x.json"]) == {"aliases/x.json"}
    prod.delete("aliases/docs.json")
    assert staging.get_bytes("aliases/docs.json") == b"staging"


def test_content_type_is_stored_or_guessed(s3_store: S3ObjectStore, tmp_path: Path) -> None:
    s3_store.put_bytes("a.css", b"body{}")
    s3_store.put_bytes("blobs/0123", b"<p>", "text/html; charset=utf-8")
    s3_store.put_bytes("blobs/4567", b"?")
    archive = tmp_path / "x.tar.gz"
    archive.write_bytes(b"\x1f\x8b")
    s3_store.put_file("sources/x.tar.gz", archive)

    def content_type(key: str) -> str | None:
        info = s3_store.head(key)
        return None if info is None else info.content_type

    assert content_type("a.css") == "text/css"
    assert content_type("blobs/0123") == "text/html; charset=utf-8"
    assert content_type("blobs/4567") == "application/octet-stream"
    assert content_type("sources/x.tar.gz") == "application/gzip"


def test_large_put_file_is_a_multipart_upload(s3_store: S3ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(9 * 1024 * 1024))

    s3_store.put_file("artifacts/big.bin", source)

    info = s3_store.head("artifacts/big.bin")
    assert info is not None and info.etag is not None
    assert info.etag.endswith("-2")  # an S3 multipart ETag: 8 MiB + 1 MiB parts


def test_one_store_many_threads(s3_store: S3ObjectStore) -> None:
    """The edge-origin and the publisher share one store across executor threads."""

    def round_trip(index: int) -> bytes:
        s3_store.put_bytes(f"blobs/t{index}", f"body {index}".encode())
        return s3_store.get_bytes(f"blobs/t{index}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        bodies = list(pool.map(round_trip, range(64)))

    assert bodies == [f"body {index}".encode() for index in range(64)]
    assert len(list(s3_store.list("blobs/"))) == 64


def test_missing_bucket_is_a_clear_error(s3_server: S3Server) -> None:
    store = s3_server.open_store("no-such-bucket-here")

    with pytest.raises(ObjectStoreError, match="bucket 'no-such-bucket-here' does not exist"):
        store.check()
    with pytest.raises(ObjectStoreError, match="does not exist"):
        store.put_bytes("a", b"1")
    with pytest.raises(ObjectStoreError, match="does not exist"):
        list(store.list())


def test_wrong_secret_is_a_clear_error_without_the_secret(s3_server: S3Server, bucket: str) -> None:
    secret = "wrong-secret-1234567890"
    store = S3ObjectStore.from_url(s3_server.store_url(bucket), s3_server.access_key_id, secret)
    failures: list[ObjectStoreError] = []
    for call in (
        store.check,
        lambda: store.put_bytes("a", b"1"),
        lambda: store.get_bytes("a"),
        lambda: store.head("a"),
        lambda: list(store.list()),
    ):
        with pytest.raises(ObjectStoreError, match="access denied") as caught:
            call()
        failures.append(caught.value)

    for failure in failures:
        assert secret not in str(failure)
        assert s3_server.secret_access_key not in str(failure)
        assert "check the access key id and secret" in str(failure)
    assert secret not in store.description


def test_unreachable_endpoint_is_a_clear_error() -> None:
    from deploy_platform.processes.ports import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3ObjectStore(
        "some-bucket",
        endpoint_url=endpoint,
        access_key_id="AKIDEXAMPLE",
        secret_access_key="secret",
        max_attempts=1,
    )

    with pytest.raises(ObjectStoreError, match="unreachable") as caught:
        store.get_bytes("a")
    assert endpoint in str(caught.value)
    with pytest.raises(ObjectStoreError, match="unreachable"):
        store.check()


def test_from_url_defaults() -> None:
    r2 = S3ObjectStore.from_url(
        "s3://site-bucket?endpoint_url=https://account.r2.cloudflarestorage.com&region=auto"
    )
    aws = S3ObjectStore.from_url("s3://site-bucket/prefix/")

    assert (r2.prefix, r2.region) == ("", "auto")
    assert r2._client.meta.config.s3 == {"addressing_style": "path"}
    assert aws.prefix == "prefix" and aws.endpoint_url is None
    assert aws._client.meta.config.s3 == {"addressing_style": "auto"}
    for store in (r2, aws):
        config = store._client.meta.config
        assert config.request_checksum_calculation == "when_required"
        assert config.response_checksum_validation == "when_required"
        # Short enough that a hung server fails the call within a minute or two (then
        # the run is retried later, see tests/faults/); long enough for a slow upload.
        assert config.connect_timeout == 3.0 and config.read_timeout == 20.0
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}
