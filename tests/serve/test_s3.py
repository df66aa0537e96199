"""The edge-origin over the real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import hashlib
import random

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.storage.redis_state import PlatformState
from deploy_platform.storage.s3 import S3ObjectStore
from tests.serve.conftest import EdgeFactory
from tests.support.deployments import point_alias, write_deployment
from tests.support.s3_fixtures import S3Server


async def test_sites_are_served_from_s3(
    start_edge: EdgeFactory,
    s3_server: S3Server,
    s3_store_url: str,
    s3_store: S3ObjectStore,
    state: PlatformState,
) -> None:
    big = random.Random(3).randbytes(3 * 1024 * 1024 + 5)
    deployment_id = new_deployment_id()
    write_deployment(
        s3_store,
        deployment_id,
        {"/index.html": b"<h1>from s3</h1>", "/guide/index.html": b"guide", "/big.bin": big},
    )
    point_alias(s3_store, state, "docs", deployment_id)
    edge = await start_edge(
        storage_url=s3_store_url,
        storage_access_key_id=s3_server.access_key_id,
        storage_secret_access_key=s3_server.secret_access_key,
    )
    headers = {"Host": "docs.localhost"}

    async with edge.get("/", headers=headers) as response:
        assert (response.status, await response.read()) == (200, b"<h1>from s3</h1>")
        etag = response.headers["ETag"]
    async with edge.get("/", headers={**headers, "If-None-Match": etag}) as response:
        assert response.status == 304
    async with edge.get("/guide", headers=headers, allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (308, "/guide/")
    async with edge.get("/big.bin", headers={"Host": f"{deployment_id}.localhost"}) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(big))
        assert hashlib.sha256(await response.read()).digest() == hashlib.sha256(big).digest()
    # No 404.html: a single-page app, but a missing file with an extension is a real 404.
    async with edge.get("/missing.css", headers=headers) as response:
        assert response.status == 404
