"""POST /api/deployments with a tar.gz body: stored as the source, or refused before anything."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deploy_platform.contracts.records import Environment, SourceKind
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.redis_state import PlatformState
from tests.api.conftest import ApiClientFactory
from tests.api.test_refusals import refused
from tests.support.api_fixtures import assert_nothing_accepted, queued_ids

GZIP = {"Content-Type": "application/gzip"}


def tar_gz(
    files: dict[str, bytes], extra: Callable[[tarfile.TarFile], None] | None = None
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(tar)
    return buffer.getvalue()


SITE = {"index.html": b"<h1>uploaded</h1>\n", "assets/app.js": b"console.log(1)\n"}


def scratch_is_clean(settings: Settings) -> bool:
    scratch = settings.state_dir / "tmp"
    return not scratch.exists() or not any(scratch.iterdir())


async def test_an_upload_is_stored_as_the_source_and_queued(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path, settings: Settings
) -> None:
    archive = tar_gz(SITE)

    response = await api.post("/api/deployments?project=docs", data=archive, headers=GZIP)

    assert response.status == 202, await response.text()
    body = await response.json()
    deployment_id = body["id"]
    assert response.headers["Location"] == f"/api/deployments/{deployment_id}"
    assert body["status"] == "queued"
    assert body["urls"] == {
        "deployment": f"http://{deployment_id}.localhost:8080/",
        "production": "http://docs.localhost:8080/",
    }
    record = state.get(deployment_id)
    assert record.source is SourceKind.UPLOAD
    assert record.environment is Environment.PRODUCTION
    assert (record.ref, record.commit, record.repo_url) == ("main", None, None)
    assert record.aliases == ("docs",)
    assert (local_store_root / "sources" / f"{deployment_id}.tar.gz").read_bytes() == archive
    assert queued_ids(state) == [deployment_id]
    assert scratch_is_clean(settings)


async def test_an_upload_for_another_ref_is_a_preview(
    api: TestClient[Any, Any], state: PlatformState
) -> None:
    response = await api.post(
        "/api/deployments?project=docs&ref=feature/x", data=tar_gz(SITE), headers=GZIP
    )

    assert response.status == 202, await response.text()
    record = state.get((await response.json())["id"])
    assert record.environment is Environment.PREVIEW
    assert record.aliases == ("feature-x--docs",)


async def test_a_chunked_upload_without_length_is_accepted(
    api: TestClient[Any, Any], state: PlatformState, local_store_root: Path
) -> None:
    archive = tar_gz(SITE)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(archive), 100):
            yield archive[start : start + 100]

    response = await api.post(
        "/api/deployments?project=docs",
        data=chunks(),
        headers={"Content-Type": "application/x-tar+gzip"},
    )

    assert response.status == 202, await response.text()
    deployment_id = (await response.json())["id"]
    assert (local_store_root / "sources" / f"{deployment_id}.tar.gz").read_bytes() == archive


@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
async def test_an_upload_over_the_limit_is_refused_with_413(
    api_for: ApiClientFactory,
    make_settings: Callable[..., Settings],
    state: PlatformState,
    local_store_root: Path,
    chunked: bool,
) -> None:
    settings = make_settings(max_upload_bytes=2048)
    api = await api_for(settings)
    archive = tar_gz({"photo.jpg": random.Random(7).randbytes(8192)})  # incompressible
    assert len(archive) > 2048

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(archive), 512):
            yield archive[start : start + 512]

    response = await api.post(
        "/api/deployments?project=docs", data=chunks() if chunked else archive, headers=GZIP
    )

    error = await refused(response, 413, "body_too_large")
    assert "2048" in error["message"] and "DP_MAX_UPLOAD_BYTES" in error["message"]
    assert_nothing_accepted(state, local_store_root)
    assert scratch_is_clean(settings)


def _escaping_entry(tar: tarfile.TarFile) -> None:
    data = b"owned"
    info = tarfile.TarInfo("../../outside.txt")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _absolute_symlink(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("passwd")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    tar.addfile(info)


def _escaping_symlink(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("up")
    info.type = tarfile.SYMTYPE
    info.linkname = "../../.."
    tar.addfile(info)


@pytest.mark.parametrize(
    ("archive", "fragment"),
    [
        (b"this is not a tarball", "not a tar archive"),
        (gzip.compress(b"gzip, but no tar inside" * 40), "not a tar archive"),
        (tar_gz(SITE)[:60], "damaged"),
        (b"", "empty"),
        (tar_gz({}), "no files"),
        (tar_gz(SITE, _escaping_entry), "../../outside.txt"),
        (tar_gz(SITE, _absolute_symlink), "/etc/passwd"),
        (tar_gz(SITE, _escaping_symlink), "outside the tree"),
    ],
    ids=[
        "not-gzip",
        "gzip-not-tar",
        "truncated",
        "empty-body",
        "empty-tar",
        "dotdot-entry",
        "absolute-symlink",
        "escaping-symlink",
    ],
)
async def test_a_corrupt_or_unsafe_archive_is_refused_before_it_is_queued(
    api: TestClient[Any, Any],
    state: PlatformState,
    local_store_root: Path,
    settings: Settings,
    archive: bytes,
    fragment: str,
) -> None:
    response = await api.post("/api/deployments?project=docs", data=archive, headers=GZIP)

    error = await refused(response, 400, "invalid_archive", "body")
    assert fragment in error["message"]
    assert_nothing_accepted(state, local_store_root)
    # Also proves no entry was written outside the scratch directory under it.
    assert scratch_is_clean(settings)


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("", "missing_field", "project"),
        ("?ref=main", "missing_field", "project"),
        ("?project=Docs", "invalid_project", "project"),
        ("?project=docs&ref=-x", "invalid_ref", "ref"),
        ("?project=docs&branch=main", "unknown_field", "branch"),
        ("?project=docs&project=site", "invalid_query", "project"),
    ],
)
async def test_upload_query_parameters_are_checked(
    api: TestClient[Any, Any],
    state: PlatformState,
    local_store_root: Path,
    query: str,
    code: str,
    field: str,
) -> None:
    response = await api.post(f"/api/deployments{query}", data=tar_gz(SITE), headers=GZIP)

    await refused(response, 400, code, field)
    assert_nothing_accepted(state, local_store_root)
