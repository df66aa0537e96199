"""One contract, two stores: the local directory and S3 (SeaweedFS) must behave alike."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy_platform.storage import ObjectNotFound, ObjectStore, ObjectStoreError, open_store
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.s3 import S3ObjectStore

MiB = 1024 * 1024
BAD_KEYS = ["../x", "/abs", "a//b", "", "a/./b", "a/../b", "a/", ".", "a b", "a\\b", "a\x00b"]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, local_store_root: Path) -> Iterator[ObjectStore]:
    """Each contract test runs once on a local directory and once on a fresh S3 bucket."""
    if request.param == "local":
        local = LocalObjectStore(local_store_root)
        yield local
        local.close()
    else:
        yield request.getfixturevalue("s3_store")


def test_put_get_bytes_and_head(store: ObjectStore) -> None:
    store.put_bytes("site/index.html", b"<h1>hello</h1>", "text/html")

    assert store.get_bytes("site/index.html") == b"<h1>hello</h1>"
    info = store.head("site/index.html")
    assert info is not None
    assert (info.key, info.size, info.content_type) == ("site/index.html", 14, "text/html")
    assert store.exists("site/index.html")
    assert store.head("site/other.html") is None
    assert not store.exists("site/other.html")


def test_overwrite_replaces_body_and_size(store: ObjectStore) -> None:
    store.put_bytes("aliases/docs.json", b'{"id": "first-deployment"}', "application/json")
    store.put_bytes("aliases/docs.json", b'{"id": "b"}', "application/json")

    assert store.get_bytes("aliases/docs.json") == b'{"id": "b"}'
    info = store.head("aliases/docs.json")
    assert info is not None and info.size == len(b'{"id": "b"}')


def test_empty_object(store: ObjectStore) -> None:
    store.put_bytes("empty.txt", b"", "text/plain")

    assert store.get_bytes("empty.txt") == b""
    assert b"".join(store.iter_range("empty.txt")) == b""
    info = store.head("empty.txt")
    assert info is not None and info.size == 0


def test_put_file_and_download_file(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "source.tar.gz"
    source.write_bytes(b"\x1f\x8b" + os.urandom(4096))
    store.put_file("sources/abc.tar.gz", source, "application/gzip")

    target = tmp_path / "out" / "nested" / "copy.tar.gz"
    store.download_file("sources/abc.tar.gz", target)

    assert target.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.tar.gz"]  # no temp left
    info = store.head("sources/abc.tar.gz")
    assert info is not None
    assert (info.size, info.content_type) == (4098, "application/gzip")


def test_download_replaces_an_existing_file(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes("a.txt", b"new", "text/plain")
    target = tmp_path / "a.txt"
    target.write_bytes(b"old and longer")

    store.download_file("a.txt", target)

    assert target.read_bytes() == b"new"


def test_put_file_of_a_missing_path_is_an_error(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.put_file("x.bin", tmp_path / "nope.bin")
    assert not store.exists("x.bin")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, None, slice(0, None)),
        (10, None, slice(10, None)),
        (10, 19, slice(10, 20)),  # end is inclusive
        (0, 0, slice(0, 1)),
        (1023, None, slice(1023, None)),
        (1000, 5000, slice(1000, None)),  # end beyond the object: up to the end
        (1024, None, slice(0, 0)),  # starts at the end: nothing
        (5000, 6000, slice(0, 0)),  # starts beyond the end: nothing
        (20, 10, slice(0, 0)),  # end before start: nothing
    ],
)
def test_iter_range(store: ObjectStore, start: int, end: int | None, expected: slice) -> None:
    data = bytes(range(256)) * 4
    store.put_bytes("blobs/range", data)

    chunks = list(store.iter_range("blobs/range", start, end, chunk_size=100))

    assert b"".join(chunks) == data[expected]
    assert all(0 < len(chunk) <= 100 for chunk in chunks)


def test_iter_range_negative_start_is_refused(store: ObjectStore) -> None:
    store.put_bytes("blobs/range", b"0123456789")
    with pytest.raises(ObjectStoreError, match="start"):
        store.iter_range("blobs/range", -1)


def test_iter_range_streams_in_chunks(store: ObjectStore) -> None:
    data = os.urandom(300_000)
    store.put_bytes("blobs/big", data)

    chunks = list(store.iter_range("blobs/big", chunk_size=64 * 1024))

    assert b"".join(chunks) == data
    assert len(chunks) >= 5


def test_iter_range_can_be_abandoned(store: ObjectStore) -> None:
    """A client that disconnects mid-body must not break later reads."""
    store.put_bytes("blobs/big", os.urandom(200_000))
    for _ in range(3):
        chunks = store.iter_range("blobs/big", chunk_size=1024)
        assert len(next(chunks)) == 1024
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    assert len(store.get_bytes("blobs/big")) == 200_000


def test_head_and_list_tell_when_an_object_was_written(store: ObjectStore) -> None:
    """Garbage collection relies on it: only bodies written before its mark are swept."""
    before = time.time()
    store.put_bytes("blobs/written", b"body")
    after = time.time()

    head = store.head("blobs/written")
    (listed,) = store.list("blobs/")
    for info in (head, listed):
        assert info is not None and info.last_modified is not None
        # S3 keeps whole seconds (rounded down); the local store the file's mtime.
        assert before - 1 <= info.last_modified <= after + 1


def test_list_prefix_across_pages_sorted(store: ObjectStore) -> None:
    keys = ["many/b", "many/a/z", "many/a-1", "many/a.b", "many/A", "many/c/d/e", "many/0"]
    for index, key in enumerate(keys):
        store.put_bytes(key, b"x" * index)
    store.put_bytes("manyx", b"not under many/")
    store.put_bytes("other/many/z", b"elsewhere")

    listed = list(store.list("many/", page_size=2))

    # Byte order, as S3 lists: '-' < '.' < '/' < digits < capitals < lowercase
    # (SeaweedFS lists "many/a/z" first: the S3 store sorts, the local one too).
    assert [info.key for info in listed] == sorted(keys)
    assert [info.key for info in listed] == [
        "many/0",
        "many/A",
        "many/a-1",
        "many/a.b",
        "many/a/z",
        "many/b",
        "many/c/d/e",
    ]
    assert {info.key: info.size for info in listed} == {k: i for i, k in enumerate(keys)}
    assert [info.key for info in store.list("many")] == sorted([*keys, "manyx"])
    assert len(list(store.list())) == len(keys) + 2
    assert list(store.list("nothing-here/")) == []


def test_delete(store: ObjectStore) -> None:
    store.put_bytes("deployments/x/manifest.json", b"{}", "application/json")
    store.put_bytes("deployments/x/other", b"1")

    store.delete("deployments/x/manifest.json")
    store.delete("deployments/x/manifest.json")  # already gone: not an error
    store.delete("never/existed")

    assert store.head("deployments/x/manifest.json") is None
    assert [info.key for info in store.list("deployments/")] == ["deployments/x/other"]


def test_missing(store: ObjectStore) -> None:
    present = [f"blobs/{hashlib.sha256(str(i).encode()).hexdigest()}" for i in range(30)]
    absent = [f"blobs/{hashlib.sha256(f'no-{i}'.encode()).hexdigest()}" for i in range(30)]
    for key in present:
        store.put_bytes(key, b"body")

    # Few keys and many keys (the S3 store answers them in different ways).
    assert store.missing([present[0], absent[0]]) == {absent[0]}
    assert store.missing(key for key in present + absent + present[:5]) == set(absent)
    assert store.missing(present) == set()
    assert store.missing([]) == set()


def test_missing_object_raises_object_not_found(store: ObjectStore, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    target = downloads / "target.bin"
    with pytest.raises(ObjectNotFound):
        store.get_bytes("nope/missing")
    with pytest.raises(ObjectNotFound):
        store.download_file("nope/missing", target)
    # iter_range raises at the call, so a server can still answer 404.
    with pytest.raises(ObjectNotFound):
        store.iter_range("nope/missing")
    assert list(downloads.iterdir()) == []  # no target, no half-written temp file


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused(store: ObjectStore, key: str, tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    calls = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_file(key, source),
        lambda: store.get_bytes(key),
        lambda: store.download_file(key, tmp_path / "out"),
        lambda: store.iter_range(key),
        lambda: store.head(key),
        lambda: store.delete(key),
        lambda: store.missing([key]),
    ]
    for call in calls:
        with pytest.raises(ObjectStoreError, match="invalid object key"):
            call()
    assert list(store.list()) == []


def test_large_file_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    """9 MiB: above the S3 store's 8 MiB multipart threshold, so a managed multipart upload."""
    source = tmp_path / "artifact.tar.gz"
    data = os.urandom(9 * MiB)
    source.write_bytes(data)

    store.put_file("artifacts/big.tar.gz", source, "application/gzip")
    target = tmp_path / "back.tar.gz"
    store.download_file("artifacts/big.tar.gz", target)

    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    info = store.head("artifacts/big.tar.gz")
    assert info is not None and info.size == 9 * MiB
    middle = b"".join(store.iter_range("artifacts/big.tar.gz", 8 * MiB - 10, 8 * MiB + 9))
    assert middle == data[8 * MiB - 10 : 8 * MiB + 10]


# -- open_store ---------------------------------------------------------------


def test_open_store_file_url(tmp_path: Path) -> None:
    store = open_store((tmp_path / "objects dir").as_uri())

    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path / "objects dir"
    store.put_bytes("a", b"1")
    assert (tmp_path / "objects dir" / "a").read_bytes() == b"1"


def test_open_store_s3_url() -> None:
    store = open_store(
        "s3://my-bucket/env/prod?endpoint_url=http://127.0.0.1:8333&region=auto"
        "&addressing_style=path",
        "AKIDEXAMPLE",
        "secret-that-must-not-leak",
    )

    assert isinstance(store, S3ObjectStore)
    assert (store.bucket, store.prefix, store.region) == ("my-bucket", "env/prod", "auto")
    assert store.endpoint_url == "http://127.0.0.1:8333"
    assert "secret-that-must-not-leak" not in store.description
    assert "AKIDEXAMPLE" not in store.description
    assert "my-bucket" in store.description
    store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "no storage URL"),
        ("http://example.com/bucket", "unsupported storage URL"),
        ("gs://bucket", "unsupported storage URL"),
        ("/var/lib/objects", "unsupported storage URL"),
        ("file://otherhost/objects", "must be local"),
        ("s3://", "names no bucket"),
        ("s3://Bad_Bucket", "invalid bucket name"),
        ("s3://ab", "invalid bucket name"),
        ("s3://bucket/../up", "invalid key prefix"),
        ("s3://bucket?endpoint=http://x", "unknown parameter"),
        ("s3://bucket?endpoint_url=ftp://x", "must be an http:// or https:// URL"),
        ("s3://bucket?endpoint_url=x", "must be an http:// or https:// URL"),
        ("s3://bucket?addressing_style=sideways", "invalid addressing_style"),
        ("s3://bucket?region=a&region=b", "more than once"),
    ],
)
def test_open_store_refuses_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ObjectStoreError, match=message):
        open_store(url)


@pytest.mark.parametrize(
    "url",
    [
        "s3://AKIDEXAMPLE:hunter2secret@bucket/prefix",
        "s3://bucket?endpoint_url=http://AKIDEXAMPLE:hunter2secret@127.0.0.1:8333",
        "https://AKIDEXAMPLE:hunter2secret@example.com/bucket",
        "s3://bucket?endpoint_url=ftp://AKIDEXAMPLE:hunter2secret@127.0.0.1",
        "s3://bucket?nope=1&endpoint_url=http://AKIDEXAMPLE:hunter2secret@127.0.0.1",
        "file://AKIDEXAMPLE:hunter2secret@host/objects",
        "gs://bucket?endpoint=https://AKIDEXAMPLE:hunter2secret@example.com",
    ],
)
def test_credentials_in_url_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ObjectStoreError) as caught:
        open_store(url)
    assert "hunter2secret" not in str(caught.value)


def test_half_credentials_are_refused() -> None:
    with pytest.raises(ObjectStoreError, match="both"):
        open_store("s3://bucket?endpoint_url=http://127.0.0.1:1", "AKIDEXAMPLE", "")
