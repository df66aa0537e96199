"""`GET /api/health`: is the API up, and can it reach Redis and the object store?"""

from __future__ import annotations

from aiohttp import web

from deploy_platform.api.keys import STATE, STORE, blocking

__all__ = ["health"]

# A key nobody writes: a HEAD on it proves the store answers without listing it.
_PROBE_KEY = "health-probe"


async def health(request: web.Request) -> web.Response:
    app = request.app
    try:
        redis_status = "ok" if await blocking(app, app[STATE].ping) else "no answer to PING"
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        redis_status = f"unreachable: {exc}"
    store = app[STORE]
    try:
        await blocking(app, store.head, _PROBE_KEY)
        storage_status = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        storage_status = f"unreachable: {exc}"
    ok = redis_status == "ok" and storage_status == "ok"
    body = {
        "ok": ok,
        "redis": redis_status,
        "storage": storage_status,
        "storage_backend": store.description,
    }
    return web.json_response(body, status=200 if ok else 503)
