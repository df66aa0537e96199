"""`GET /api/history`: one row per deployment, from the Dagster instance's records.

  GET /api/history?project=docs&branch=main&since=7d&limit=100&cursor=...
  200 {"deployments": [row, ...], "count": 100, "total": 2345, "next_cursor": "..." | null}

Rows are newest first; pass `next_cursor` back as `cursor` for the next page (null:
this was the last). Columns: `deploy_platform.history.rows.COLUMNS` (docs/guides/history.md). The
Dagster instance is the one in DAGSTER_HOME (`Settings.dagster_home_dir`), opened on
the first request, so an API without one still serves everything else; this
endpoint then answers 503 `history_unavailable` saying what to set.

Dagster and pandas are imported on the first request, never at start: they hold
~140 MB the API would otherwise keep all day for an endpoint most platforms call
rarely (`deploy-platform history`). That first request pays the imports and, on a
large instance, filling the history cache (seconds); later ones read the cache.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiMapping

from deploy_platform.api.errors import ApiError
from deploy_platform.api.keys import SETTINGS, STORE, blocking
from deploy_platform.api.validation import check_project
from deploy_platform.contracts.errors import InvalidRequest

if TYPE_CHECKING:
    from deploy_platform.history.params import HistoryQuery
    from deploy_platform.history.service import HistoryService

__all__ = ["get_history", "history_ctx", "page_body", "HISTORY", "HistoryAccess", "PARAMETERS"]

log = logging.getLogger("deploy_platform.api")

PARAMETERS = ("project", "branch", "since", "limit", "cursor")


class HistoryAccess:
    """The history service, made on first use (opening the Dagster instance)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._service: HistoryService | None = None

    def service(self, app: web.Application) -> HistoryService:
        with self._lock:
            if self._service is None:
                self._service = _open(app)
            return self._service

    def store_changed(self) -> None:
        """A rollback or promote was logged: the next query lists the move log again."""
        service = self._service
        if service is not None:
            service.store_changed()

    def close(self) -> None:
        with self._lock:
            if self._service is not None:
                self._service.close()
                self._service.instance.dispose()
                self._service = None


HISTORY = web.AppKey("history", HistoryAccess)


def _open(app: web.Application) -> HistoryService:
    import dagster as dg

    from deploy_platform.history.moves import AliasMoveLog
    from deploy_platform.history.service import HistoryService
    from deploy_platform.orchestration.jobs.purge import open_instance

    settings = app[SETTINGS]
    home = settings.dagster_home_dir
    try:
        if (home / "dagster.yaml").is_file():
            # As `up` configured it (PostgreSQL storage's URL in the form dagster.yaml needs).
            env = {**os.environ, "DAGSTER_HOME": str(home)}
            instance = open_instance(settings.state_dir, env)
        elif (home / "history").is_dir():
            instance = dg.DagsterInstance.from_config(str(home))  # Dagster's defaults: SQLite
        else:
            raise ApiError(
                503,
                "history_unavailable",
                f"no Dagster instance at {home}: set DAGSTER_HOME (or DP_STATE_DIR) to the "
                "one the Dagster daemon uses; `deploy-platform up` keeps it at "
                "<state dir>/dagster",
            )
    except ApiError:
        raise
    except Exception as exc:
        log.exception("cannot open the Dagster instance at %s", home)
        raise ApiError(
            503,
            "history_unavailable",
            f"cannot open the Dagster instance at {home}: {type(exc).__name__}: {exc}",
        ) from None
    return HistoryService(instance, app[STORE], alias_moves=AliasMoveLog(app[STORE]))


async def history_ctx(app: web.Application) -> AsyncIterator[None]:
    access = HistoryAccess()
    app[HISTORY] = access
    yield
    await blocking(app, access.close)


def parse_history_query(params: MultiMapping[str]) -> HistoryQuery:
    """The query from URL parameters; a 400 naming the parameter at fault."""
    from deploy_platform.history.params import (
        HistoryQuery,
        check_branch,
        decode_cursor,
        parse_limit,
        parse_since,
    )

    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise InvalidRequest(
            f"unknown parameter {unknown[0]!r}; /api/history takes {', '.join(PARAMETERS)}",
            field=unknown[0],
        )
    for name in PARAMETERS:
        if len(params.getall(name, [])) > 1:
            raise InvalidRequest(f"{name} is given more than once; give it once", field=name)
    project = params.get("project")
    if project is not None:
        project = check_project(project)
    branch = params.get("branch")
    cursor = params.get("cursor")
    if cursor is not None:
        decode_cursor(cursor)
    return HistoryQuery(
        project=project,
        branch=check_branch(branch) if branch is not None else None,
        since=parse_since(params["since"]) if "since" in params else None,
        limit=parse_limit(params["limit"]) if "limit" in params else HistoryQuery.limit,
        cursor=cursor,
    )


def page_body(service: HistoryService, query: HistoryQuery) -> dict[str, Any]:
    """The JSON body of one page (what the endpoint answers)."""
    from deploy_platform.history.rows import json_row

    page = service.page(query)
    rows = [json_row({str(k): v for k, v in row.items()}) for row in page.rows.to_dict("records")]
    return {
        "deployments": rows,
        "count": len(rows),
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


async def get_history(request: web.Request) -> web.Response:
    app = request.app
    query = parse_history_query(request.query)
    service = await blocking(app, app[HISTORY].service, app)
    return web.json_response(await blocking(app, page_body, service, query))
