"""The edge-origin (`python -m serve`, real processes) against bad clients and a store outage:
half-sent requests are closed after the header timeout, and bodies, manifests and
aliases it served once keep answering from its disk cache while S3 (a real SeaweedFS)
is down -- in a fresh process, whose memory caches are empty."""

from __future__ import annotations

import http.client
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.processes.redis_server import RedisServer
from deploy_platform.storage.redis_state import PlatformState
from tests.support.deployments import point_alias, write_deployment
from tests.support.edge_process import serve_process
from tests.support.environment import child_env
from tests.support.s3_fixtures import S3Server
from tests.support.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"edge-origin listening on http://([\d.]+):(\d+)")
KIB = 1024


def test_half_sent_requests_are_closed_after_the_header_timeout(
    local_store_root: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    with serve_process(
        local_store_root, redis_server.url, redis_prefix, DP_EDGE_HEADER_TIMEOUT_SECONDS="1"
    ) as edge:
        # Some send nothing, some half a request line, some all but the blank line.
        starts = [b"", b"GET / HT", b"GET / HTTP/1.1\r\nHost: docs.localhost\r\n"]
        socks = []
        for index in range(20):
            sock = socket.create_connection(("127.0.0.1", edge.port), timeout=30)
            sock.sendall(starts[index % 3])
            socks.append(sock)
        for sock in socks:
            # The bound is the socket's 30 s timeout: b"" means the edge closed it first.
            assert sock.recv(1024) == b""
            sock.close()
        # A whole request is still answered.
        connection = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
        connection.request("GET", "/", headers={"Host": "nothing-here.localhost"})
        assert connection.getresponse().status == 404
        connection.close()


@contextmanager
def s3_edge(
    server: S3Server, bucket: str, cache_dir: Path, cache_bytes: int, redis_url: str = ""
) -> Iterator[int]:
    """`python -m serve` over the bucket with a disk cache; yields its port."""
    env = child_env(
        PYTHONPATH=str(REPO),
        DP_STATE_DIR=str(cache_dir.parent),
        DP_STORAGE_URL=server.store_url(bucket),
        DP_S3_ACCESS_KEY_ID=server.access_key_id,
        DP_S3_SECRET_ACCESS_KEY=server.secret_access_key,
        DP_REDIS_URL=redis_url,
        DP_EDGE_DISK_CACHE_DIR=str(cache_dir),
        DP_EDGE_DISK_CACHE_BYTES=str(cache_bytes),
    )
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    log = cache_dir.parent / f"edge-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "serve", "--host", "127.0.0.1", "--port", "0", "--workers", "2"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def listening() -> re.Match[str] | None:
            found = _LISTENING.search(log.read_text(errors="replace"))
            if not found and process.poll() is not None:
                raise AssertionError(f"the edge did not start:\n{log.read_text()}")
            return found

        found = eventually(
            listening,
            timeout=60,
            message=lambda: f"the edge did not start:\n{log.read_text()}",
            retry_on=(),
        )
        yield int(found.group(2))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def get(port: int, host: str, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers={"Host": host, "Accept-Encoding": "identity"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def counted_bytes(cache_dir: Path) -> int:
    """What the bound covers: the body and manifest copies."""
    return sum(
        path.stat().st_size
        for top in ("blobs", "manifests")
        for path in (cache_dir / top).rglob("*")
        if path.is_file()
    )


@pytest.mark.slow
def test_the_edge_serves_what_it_served_before_through_an_s3_outage(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    rng = random.Random(11)
    # Before: files that overflow the cache's bound, so it must evict to stay under it.
    before = {f"/old/{index}.bin": rng.randbytes(200 * KIB) for index in range(8)}
    # Then: small bodies (read whole) and a large one (streamed in chunks), served last.
    site = {
        "/index.html": b"<h1>served through the outage</h1>",
        "/app.js": rng.randbytes(120 * KIB),
        "/photo.jpg": rng.randbytes(700 * KIB),  # > DP_EDGE_BODY_CACHE_ITEM_BYTES: streamed
    }
    # What visitors ask for ("/" is index.html).
    wanted = {
        "/": site["/index.html"],
        "/app.js": site["/app.js"],
        "/photo.jpg": site["/photo.jpg"],
    }
    bound = 1536 * KIB
    cache_dir = tmp_path / "state" / "edge-cache"
    server = S3Server(tmp_path / "weed").start()
    try:
        bucket = server.make_bucket()
        store = server.open_store(bucket)
        old_id, site_id = new_deployment_id(), new_deployment_id()
        write_deployment(store, old_id, before)
        write_deployment(store, site_id, site)
        state = PlatformState.from_url(redis_server.url, redis_prefix)
        point_alias(store, state, "docs", site_id)  # the store's pointer (and Redis')
        state.redis.close()
        store.close()

        with s3_edge(server, bucket, cache_dir, bound) as port:
            # Hosts that name nothing leave nothing on disk.
            assert get(port, "no-such-site.localhost", "/")[0] == 404
            for path, body in before.items():
                assert get(port, f"{old_id}.localhost", path) == (200, body)
            for path, body in wanted.items():
                assert get(port, "docs.localhost", path) == (200, body), path
                assert get(port, f"{site_id}.localhost", path) == (200, body), path
        assert 0 < counted_bytes(cache_dir) <= bound
        assert sorted(path.name for path in (cache_dir / "pointers").rglob("*")) == [
            "alias",
            "docs",
        ]
    finally:
        server.stop()  # S3 is down from here on

    # A fresh process: nothing in memory, and the store does not answer.
    with s3_edge(server, bucket, cache_dir, bound) as port:
        for path, body in wanted.items():
            assert get(port, "docs.localhost", path) == (200, body), path
            assert get(port, f"{site_id}.localhost", path) == (200, body), path
        # What was never read is not invented: the store's outage shows.
        assert get(port, "docs.localhost", "/missing.txt")[0] == 404
        assert get(port, f"{new_deployment_id()}.localhost", "/")[0] == 503
    assert 0 < counted_bytes(cache_dir) <= bound
