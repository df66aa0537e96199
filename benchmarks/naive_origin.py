"""The baseline the edge-origin is measured against: the popular "Vercel clone" origin.

Every request reads the alias pointer, the manifest and the body from the S3
server with boto3, with no cache, the way most self-made deploy platforms
serve sites (a proxy or an app in front of the bucket). The blocking boto3
calls run in the default thread pool, so the event loop at least keeps
accepting. Same layout and keys as the platform (`deploy_platform.contracts.manifest`),
so it serves exactly the same deployments; only GET of a file or `/`.

    python -m benchmarks.naive_origin --port 8081 --store-url s3://bucket?endpoint_url=...

Credentials come from DP_S3_ACCESS_KEY_ID / DP_S3_SECRET_ACCESS_KEY. Several
copies may share the port (SO_REUSEPORT), as the edge's workers do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from aiohttp import web

from deploy_platform.contracts.manifest import alias_key, blob_key, manifest_key
from deploy_platform.storage import ObjectNotFound
from deploy_platform.storage.s3 import S3ObjectStore

STORE = web.AppKey("store", S3ObjectStore)


async def handle(request: web.Request) -> web.Response:
    store = request.app[STORE]
    loop = asyncio.get_running_loop()
    label = request.host.split(":", 1)[0].split(".", 1)[0]
    try:
        pointer = json.loads(await loop.run_in_executor(None, store.get_bytes, alias_key(label)))
        deployment = pointer["deployment"]
        raw = await loop.run_in_executor(None, store.get_bytes, manifest_key(deployment))
        files: dict[str, Any] = json.loads(raw)["files"]
        path = request.path + "index.html" if request.path.endswith("/") else request.path
        entry = files.get(path)
        if entry is None:
            return web.Response(status=404, text="not found")
        body = await loop.run_in_executor(None, store.get_bytes, blob_key(entry["blob"]))
    except ObjectNotFound:
        return web.Response(status=404, text="not found")
    return web.Response(
        body=body,
        headers={
            "Content-Type": entry["content_type"],
            "ETag": entry["etag"],
            "Cache-Control": "public, max-age=0, must-revalidate",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store-url", required=True)
    args = parser.parse_args()
    app = web.Application()
    app[STORE] = S3ObjectStore.from_url(
        args.store_url,
        os.environ.get("DP_S3_ACCESS_KEY_ID"),
        os.environ.get("DP_S3_SECRET_ACCESS_KEY"),
    )
    app.router.add_get("/{path:.*}", handle)
    web.run_app(app, host=args.host, port=args.port, reuse_port=True, access_log=None, print=None)


if __name__ == "__main__":
    main()
