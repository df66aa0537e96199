"""A full disk: refused with 507 naming it, nothing stored is lost, and it all works again
once space is freed; in a run, a full disk is waited out like any infrastructure fault.

The disk is a real 8 MiB tmpfs the test mounts (as root) and fills with a file; the
API's state directory, the local object directory and Redis's data directory (AOF
on) live on it. Without permission to mount, the tests are skipped, saying so.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import redis
from aiohttp.test_utils import TestClient

from deploy_platform.api import create_app
from deploy_platform.contracts.manifest import source_key
from deploy_platform.contracts.records import Status
from deploy_platform.contracts.tags import INFRA_RETRY_TAG
from deploy_platform.orchestration.resources.object_store import ObjectStoreResource
from deploy_platform.orchestration.sensors.infra_retry import InfraRetryPolicy
from deploy_platform.orchestration.sensors.recovery_sensor import recover
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.settings.platform import Settings
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import STREAM_START, PlatformState
from tests.faults.infra_support import RestartableRedis, retry_when_due, run_resources
from tests.orchestration.support import Deployer, pack_site, queue_upload, served_text, unique
from tests.support.api_fixtures import make_settings  # noqa: F401 - a fixture
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

GZIP = {"Content-Type": "application/gzip"}
SIZE = "8m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs mounted for this test, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(disk)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except FileNotFoundError:
        pytest.skip("no `mount` command: cannot make a small filesystem to fill")
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a small tmpfs to fill (needs root and mount permission): "
            + mounted.stderr.strip()
        )
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem refuses even one more byte."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1024 * 1024, 64 * 1024, 4096, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    finally:
        os.close(fd)
    return filler


def wait_for_redis_writes(client: redis.Redis[bytes], key: str, refused: bool) -> None:
    """Redis learns its disk is full when it next writes its AOF: write until it refuses
    (`refused`), or until it takes writes again."""

    def as_wanted() -> bool:
        try:
            client.set(key, uuid.uuid4().hex)
            return not refused
        except redis.ResponseError as exc:
            assert str(exc).startswith("MISCONF"), exc
            return refused

    eventually(
        as_wanted,
        timeout=20,
        interval=0.2,
        message=f"Redis {'refusing' if refused else 'taking'} writes",
        retry_on=(),
    )


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def disk_redis(small_disk: Path) -> Iterator[RestartableRedis]:
    """A Redis whose data directory and AOF are on the small disk."""
    server = RestartableRedis(small_disk / "redis").start()
    yield server
    server.stop()


async def test_a_full_disk_answers_507_naming_it_and_loses_nothing(
    small_disk: Path,
    disk_redis: RestartableRedis,
    redis_prefix: str,
    make_settings: Callable[..., Settings],  # noqa: F811 - the fixture imported above
    git_http: Any,
    aiohttp_client: Any,
) -> None:
    settings = make_settings(
        state_dir=small_disk / "state",
        redis_url=disk_redis.url,
        storage_url=(small_disk / "objects").as_uri(),
        git_allow_hosts=("127.0.0.1",),
    )
    api: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    state = PlatformState.from_url(disk_redis.url, redis_prefix)
    store = LocalObjectStore(small_disk / "objects")
    repo = git_http.create_repo(f"disk_{uuid.uuid4().hex[:8]}", {"index.html": "git"})
    upload = tar_gz({"index.html": b"<h1>uploaded</h1>\n"})
    git = {"repo_url": repo.url, "project": "site"}

    before = await api.post("/api/deployments?project=docs", data=upload, headers=GZIP)
    assert before.status == 202, await before.text()
    kept = (await before.json())["id"]
    kept_source = store.get_bytes(source_key(kept))

    filler = fill(small_disk)
    wait_for_redis_writes(state.redis, state.key("disk-probe"), refused=True)

    refused_upload = await api.post("/api/deployments?project=docs", data=upload, headers=GZIP)
    assert refused_upload.status == 507, await refused_upload.text()
    error = (await refused_upload.json())["error"]
    assert error["code"] == "disk_full"
    assert f"no space left on device on {small_disk / 'state' / 'tmp'}" in error["message"]
    assert f"the filesystem mounted at {small_disk}" in error["message"]
    assert "free space and retry" in error["message"]

    refused_git = await api.post("/api/deployments", json=git)
    assert refused_git.status == 507, await refused_git.text()
    error = (await refused_git.json())["error"]
    assert error["code"] == "disk_full"
    assert "Redis cannot write its data directory" in error["message"]
    assert str(small_disk / "redis") in error["message"]
    assert "not reachable" not in error["message"]
    # Redis's own answer, never the command it refused (a record, build variables and all).
    assert "MISCONF" in error["message"] and "pipeline" not in error["message"]

    # Nothing already stored is lost, and nothing half-made is left behind.
    assert store.get_bytes(source_key(kept)) == kept_source
    shown = await api.get(f"/api/deployments/{kept}")
    assert shown.status == 200 and (await shown.json())["status"] == "queued"
    assert [dep for _, dep in state.read_queue(STREAM_START)] == [kept]
    assert not any((small_disk / "state" / "tmp").iterdir())

    filler.unlink()
    wait_for_redis_writes(state.redis, state.key("disk-probe"), refused=False)

    again_upload = await api.post("/api/deployments?project=docs", data=upload, headers=GZIP)
    assert again_upload.status == 202, await again_upload.text()
    again_git = await api.post("/api/deployments", json=git)
    assert again_git.status == 202, await again_git.text()
    queued = [dep for _, dep in state.read_queue(STREAM_START)]
    assert queued == [kept, (await again_upload.json())["id"], (await again_git.json())["id"]]
    assert store.get_bytes(source_key(kept)) == kept_source
    state.redis.close()


def test_a_full_object_disk_in_a_run_is_waited_out_and_the_deployment_ends_ready(
    small_disk: Path, state: PlatformState, redis_server: RedisServer, tmp_path: Path
) -> None:
    objects = small_disk / "objects"
    store = LocalObjectStore(objects)
    object_store = ObjectStoreResource(url=objects.as_uri())
    resources = run_resources(redis_server.url, state.prefix, object_store)
    record = queue_upload(
        state, store, unique("disk"), pack_site(tmp_path, {"index.html": "<h1>room</h1>"})
    )
    filler = fill(small_disk)
    policy = InfraRetryPolicy(max_retries=3, backoff_seconds=600.0, settle_seconds=0.0)

    with dg.instance_for_test() as instance:
        first = Deployer(instance, resources).run(record.id)

        assert not first.success
        waiting = state.get(record.id)
        assert waiting.status is not Status.FAILED and waiting.error is None
        assert waiting.retrying is not None and waiting.retrying["component"] == "disk"
        assert f"the disk ({objects}) could not be written" in waiting.retrying["error"]
        assert "No space left on device" in waiting.retrying["error"]
        # Still full: the recovery sensor's health check (a write there) keeps it waiting.
        tick = recover(instance, state, time.time(), policy=policy)
        assert tick.retries == [] and tick.failed == []
        [waited] = tick.waiting
        assert waited.failure.component == "disk" and waited.failure.target == str(objects)
        note = state.get(record.id).retrying
        assert note is not None and "waiting for the disk" in note["message"]

        filler.unlink()
        _ticks, request = retry_when_due(instance, resources, first, policy, seconds=60)
        assert request.tags[INFRA_RETRY_TAG] == "1"
        retried = Deployer(instance, resources).run(record.id, extra_tags=dict(request.tags))

    assert retried.success
    done = state.get(record.id)
    assert done.status is Status.READY and done.error is None and done.retrying is None
    assert Status.FAILED.value not in done.timestamps
    assert served_text(store, record.id, "/index.html") == "<h1>room</h1>"
