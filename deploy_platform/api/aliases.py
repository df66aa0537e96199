"""Rollback, promote, and a project's aliases with their move log.

  POST /api/projects/{name}/rollback    {"deployment": "<id>", "actor": "cli:alice"}
                                        both optional, the body too
       200 {"project", "alias", "from", "to", "moved", "actor", "reason", "urls"}
  POST /api/deployments/{id}/promote    {"actor": "cli:alice"} optional
       200 the same shape
  GET  /api/projects/{name}/aliases[?limit=50]
       200 {"project", "aliases": [{"alias", "kind", "deployment", "url", ...}],
            "moves": [{"at", "time", "alias", "from", "to", "actor", "reason"}, ...]}

`moved` is false when production already served that deployment (nothing
changed, nothing logged). The rules and refusals are `deploy_platform.publish.rollback`'s:
400 invalid_project / invalid_id / wrong_project / invalid_actor / unknown_field,
404 project_not_found / deployment_not_found, 409 deployment_not_ready /
deployment_not_published / preview_deployment / nothing_to_roll_back, 503
redis_unavailable / storage_unavailable. The move log is `deploy_platform.publish.alias_moves`.
"""

from __future__ import annotations

import redis
from aiohttp import web

from deploy_platform.api.errors import ApiError, unavailable
from deploy_platform.api.history import HISTORY
from deploy_platform.api.keys import ALIAS_INDEX, SETTINGS, STATE, STORE, blocking
from deploy_platform.api.validation import parse_move_request
from deploy_platform.contracts.names import InvalidName, validate_project_name
from deploy_platform.publish.alias_moves import list_moves
from deploy_platform.publish.rollback import (
    ProductionMove,
    project_aliases,
    project_known,
    promote,
    rollback,
)
from deploy_platform.storage import ObjectStoreError

__all__ = ["rollback_handler", "promote_handler", "aliases_handler", "MAX_MOVES"]

MAX_MOVES = 1000
_DEFAULT_MOVES = 50


def _project(request: web.Request) -> str:
    try:
        return validate_project_name(request.match_info["name"])
    except InvalidName as exc:
        raise ApiError(400, "invalid_project", str(exc), field="name") from None


def _answer(request: web.Request, move: ProductionMove) -> web.Response:
    history = request.app.get(HISTORY)
    if history is not None and move.moved:
        history.store_changed()  # the history's trigger column names rollbacks and promotes
    settings = request.app[SETTINGS]
    urls = {
        "production": settings.public_url(move.alias),
        "deployment": settings.public_url(move.to_deployment),
    }
    return web.json_response({**move.to_dict(), "urls": urls})


async def rollback_handler(request: web.Request) -> web.Response:
    app = request.app
    project = _project(request)
    wanted = parse_move_request(await request.read(), ("deployment", "actor"))
    try:
        move = await blocking(
            app,
            rollback,
            app[STORE],
            app[STATE],
            project,
            wanted.deployment,
            wanted.actor,
            app.get(ALIAS_INDEX),
        )
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    return _answer(request, move)


async def promote_handler(request: web.Request) -> web.Response:
    app = request.app
    wanted = parse_move_request(await request.read(), ("actor",))
    try:
        move = await blocking(
            app,
            promote,
            app[STORE],
            app[STATE],
            request.match_info["id"],
            wanted.actor,
            app.get(ALIAS_INDEX),
        )
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    return _answer(request, move)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(_DEFAULT_MOVES))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_MOVES:
        raise ApiError(
            400,
            "invalid_query",
            f"limit must be a whole number from 1 to {MAX_MOVES}, not {raw[:20]!r}",
            field="limit",
        )
    return int(raw)


async def aliases_handler(request: web.Request) -> web.Response:
    app = request.app
    project = _project(request)
    limit = _limit(request)
    store, state = app[STORE], app[STATE]
    try:
        aliases = await blocking(app, project_aliases, store, state, project)
        moves = await blocking(app, list_moves, store, project, limit=limit)
        if (
            not aliases
            and not moves
            and not await blocking(app, project_known, store, state, project)
        ):
            raise ApiError(
                404,
                "project_not_found",
                f"no project {project}: it has no settings, no deployments and no aliases",
                field="name",
            )
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    settings = app[SETTINGS]
    return web.json_response(
        {
            "project": project,
            "aliases": [
                {**alias.to_dict(), "url": settings.public_url(alias.alias)} for alias in aliases
            ],
            "moves": [move.to_dict() for move in moves],
        }
    )
