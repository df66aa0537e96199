"""`GET /api/deployments`: the deployments list, newest first, one page at a time.

  GET /api/deployments[?project=docs][&limit=20][&cursor=...]
      200 {"deployments": [item, ...], "next_cursor": "..." | null}
          with `project`, also "dagster_runs_url": the Dagster UI's list of its runs

Without `project`, every project's deployments are merged into one list. An item
is what a list shows (not the whole record: `GET /api/deployments/{id}` has that):
id, project, status, environment, branch, commit and its subject and author,
source, trigger, when it was queued, how long it took, its URL (only once it is
live: a failed deployment's own URL answers 404), and `serving`: the aliases that
serve it *now* (read from the alias index, so a rollback or promote shows at once),
each with a label such as `production` or `preview main`.

The cursor is the position (enqueue time, id) of the last item of the page; a
deployment queued meanwhile does not shift the next page. Refusals: 400
invalid_query (limit, cursor), 400 invalid_project, 404 project_not_found (no
settings, no deployments and no aliases), 503 redis_unavailable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from aiohttp import web

from deploy_platform.api.errors import ApiError, redis_failure, unavailable
from deploy_platform.api.keys import SETTINGS, STATE, STORE, blocking
from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.names import InvalidName, production_alias, validate_project_name
from deploy_platform.contracts.records import DeploymentRecord, Status
from deploy_platform.publish.rollback import project_known
from deploy_platform.settings.platform import Settings
from deploy_platform.storage import ObjectStoreError
from deploy_platform.storage.redis_state import PlatformState, Position

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "DeploymentPage",
    "alias_label",
    "list_deployments",
    "list_handler",
]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_CURSOR = re.compile(r"^(?P<at>[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)_(?P<id>[a-z2-7]{12})$")


@dataclass(frozen=True)
class DeploymentPage:
    records: list[DeploymentRecord]
    # alias -> the deployment it serves now, for every alias the page's records may hold.
    serving: dict[str, str]
    next_cursor: str | None


def alias_label(alias: str, project: str) -> str:
    """`production` for the project's own alias, `preview <branch>` for `<branch>--<project>`."""
    if alias == production_alias(project):
        return "production"
    return f"preview {alias.removesuffix('--' + project)}"


def _cursor_text(position: Position) -> str:
    return f"{position[0]!r}_{position[1]}"


def _parse_cursor(raw: str) -> Position:
    match = _CURSOR.match(raw)
    if match is None or not is_deployment_id(match["id"]):
        raise ApiError(
            400,
            "invalid_query",
            f"cursor {raw[:60]!r} is not one this API gave out; pass the next_cursor of "
            "the previous page as it is",
            field="cursor",
        )
    return float(match["at"]), match["id"]


def list_deployments(
    state: PlatformState, project: str | None, limit: int, cursor: Position | None
) -> DeploymentPage:
    """One page, newest first: each project's next `limit + 1` merged (the extra one
    says whether another page follows). Blocking: the API runs it in its thread pool."""
    projects = [project] if project is not None else state.deployed_projects()
    merged: list[tuple[Position, str]] = []
    for name in projects:
        merged += [(p, name) for p in state.deployments_before(name, cursor, limit + 1)]
    merged.sort(reverse=True)
    page, more = merged[:limit], len(merged) > limit
    found = state.find_many([position[1] for position, _ in page])
    records = [found[p[1]] for p, _ in page if p[1] in found]
    aliases = sorted(
        {production_alias(name) for _, name in page}
        | {alias for record in records for alias in record.aliases}
    )
    serving: dict[str, str] = {}
    if aliases:
        targets = state.redis.mget([state.key("alias", alias) for alias in aliases])
        serving = {
            alias: target.decode()
            for alias, target in zip(aliases, targets, strict=True)
            if target is not None
        }
    next_cursor = _cursor_text(page[-1][0]) if more and page else None
    return DeploymentPage(records, serving, next_cursor)


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def list_item(
    settings: Settings, record: DeploymentRecord, serving: dict[str, str]
) -> dict[str, Any]:
    """What a list shows of one deployment (module docstring)."""
    queued_at = record.timestamps.get(Status.QUEUED.value)
    now_serving = sorted(
        (alias for alias, target in serving.items() if target == record.id),
        key=lambda alias: (alias != production_alias(record.project), alias),
    )
    live = record.status is Status.READY
    return {
        "id": record.id,
        "project": record.project,
        "status": record.status.value,
        "environment": record.environment.value,
        "branch": record.ref,
        "commit": record.commit,
        "commit_message": record.commit_message,
        "commit_author": record.commit_author,
        "source": record.source.value,
        "trigger": record.trigger,
        "queued_at": queued_at,
        "created": _iso(queued_at),
        "duration": record.durations().get("total"),
        "url": (record.urls.get("deployment") or settings.public_url(record.id)) if live else None,
        "serving": [
            {
                "alias": alias,
                "label": alias_label(alias, record.project),
                "url": settings.public_url(alias),
            }
            for alias in now_serving
        ],
        "error": record.error,
        "status_url": f"/api/deployments/{record.id}",
    }


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(
            400,
            "invalid_query",
            f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw[:20]!r}",
            field="limit",
        )
    return int(raw)


def _project(request: web.Request) -> str | None:
    raw = request.query.get("project")
    if raw is None:
        return None
    try:
        return validate_project_name(raw)
    except InvalidName as exc:
        raise ApiError(400, "invalid_project", str(exc), field="project") from None


async def list_handler(request: web.Request) -> web.Response:
    app = request.app
    unknown = sorted(set(request.query) - {"project", "limit", "cursor"})
    if unknown:
        raise ApiError(
            400,
            "invalid_query",
            f"unknown query parameter {unknown[0]!r}; allowed: project, limit, cursor",
            field=unknown[0],
        )
    project = _project(request)
    limit = _limit(request)
    raw_cursor = request.query.get("cursor")
    cursor = _parse_cursor(raw_cursor) if raw_cursor else None
    state = app[STATE]
    try:
        page = await blocking(app, list_deployments, state, project, limit, cursor)
        if (
            project is not None
            and not page.records
            and cursor is None
            and not await blocking(app, project_known, app[STORE], state, project)
        ):
            raise ApiError(
                404,
                "project_not_found",
                f"no project {project}: it has no settings, no deployments and no aliases",
                field="project",
            )
    except redis.RedisError as exc:
        raise redis_failure(exc) from None
    except ObjectStoreError as exc:
        raise unavailable(exc) from None
    settings = app[SETTINGS]
    answer: dict[str, object] = {
        "deployments": [list_item(settings, r, page.serving) for r in page.records],
        "next_cursor": page.next_cursor,
    }
    if project is not None:
        answer["dagster_runs_url"] = settings.project_runs_url(project)
    return web.json_response(answer)
