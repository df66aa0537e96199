"""`GET /api/deployments/<id>/logs`: the deployment's build log, read by byte offset.

  GET /api/deployments/<id>/logs?offset=0&limit=262144&stream=stdout
  GET /api/deployments/<id>/logs?tail=40
  200 {"id", "status", "error", "run_id", "run_status", "run_url", "stream",
       "offset", "next_offset", "text", "more", "finished"}

The text is what the deployment's newest Dagster run captured (`history/build_log.py`):
`stream=stdout` (the default) is the build step's log (what it found and did, and
the build's own output), `stderr` Dagster's log of the run: the stdout and stderr
tabs of `run_url` in the Dagster UI. `text` starts at `offset` and ends at a line's
end; ask again from `next_offset` for what follows.
`more`: there is more to read at once. `finished`: the deployment is ready or
failed and its run has ended, so nothing will be added: read until `more` is false.
`tail=N` answers the last N complete lines instead (`offset` is where they start).

A deployment whose run has not started yet answers `status` `queued`, `run_id` null
(or the run's `run_status` QUEUED) and no text. The Dagster instance is the one
`GET /api/history` reads (`api/history.py`), opened on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis
from aiohttp import web

from deploy_platform.api.deployments import _not_found
from deploy_platform.api.errors import ApiError, redis_failure
from deploy_platform.api.history import HISTORY
from deploy_platform.api.keys import SETTINGS, STATE, blocking
from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.contracts.ids import is_deployment_id
from deploy_platform.contracts.records import TERMINAL, DeploymentRecord
from deploy_platform.settings.platform import Settings

if TYPE_CHECKING:
    import dagster as dg

__all__ = ["get_logs", "PARAMETERS", "DEFAULT_LIMIT", "MAX_LIMIT", "MAX_TAIL"]

PARAMETERS = ("offset", "limit", "stream", "tail")
DEFAULT_LIMIT = 256 * 1024
MAX_LIMIT = 4 * 1024 * 1024
MAX_TAIL = 10_000


def _whole_number(params: Any, name: str, default: int, lowest: int, highest: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not lowest <= int(raw) <= highest:
        raise InvalidRequest(
            f"{name} must be a whole number from {lowest} to {highest}, not {raw[:40]!r}",
            field=name,
        )
    return int(raw)


def _parameters(params: Any) -> tuple[int, int, str, int | None]:
    from deploy_platform.history.build_log import STREAMS

    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise InvalidRequest(
            f"unknown parameter {unknown[0]!r}; the logs take {', '.join(PARAMETERS)}",
            field=unknown[0],
        )
    for name in PARAMETERS:
        if len(params.getall(name, [])) > 1:
            raise InvalidRequest(f"{name} is given more than once; give it once", field=name)
    stream = params.get("stream", "stdout")
    if stream not in STREAMS:
        raise InvalidRequest(
            f"stream must be one of {', '.join(STREAMS)}, not {stream[:40]!r}", field="stream"
        )
    offset = _whole_number(params, "offset", 0, 0, 2**62)
    limit = _whole_number(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    tail = _whole_number(params, "tail", 0, 1, MAX_TAIL) if "tail" in params else None
    return offset, limit, stream, tail


def read_log(
    instance: dg.DagsterInstance,
    settings: Settings,
    record: DeploymentRecord,
    stream: str,
    offset: int,
    limit: int,
    tail: int | None,
) -> dict[str, Any]:
    """The answer's body (blocking: it reads Dagster's storage)."""
    from deploy_platform.history.build_log import find_run, read_chunk, read_tail

    run = find_run(instance, record.id)
    body: dict[str, Any] = {
        "id": record.id,
        "status": record.status.value,
        "error": record.error,
        "run_id": None,
        "run_status": None,
        "run_url": None,
        "stream": stream,
        "offset": offset,
        "next_offset": offset,
        "text": "",
        "more": False,
        # No run and a final status: the deployment failed before any build began.
        "finished": record.status in TERMINAL,
    }
    if run is None:
        return body
    if tail is not None:
        chunk = read_tail(instance, run, stream, tail)  # type: ignore[arg-type]
    else:
        chunk = read_chunk(instance, run, stream, offset, limit)  # type: ignore[arg-type]
    body.update(
        run_id=run.run_id,
        run_status=run.status,
        run_url=settings.run_url(run.run_id),
        offset=chunk.offset,
        next_offset=chunk.next_offset,
        text=chunk.text,
        more=chunk.more,
        # A deployment not final yet may get another run (a retry): not finished.
        finished=record.status in TERMINAL and run.ended,
    )
    return body


async def get_logs(request: web.Request) -> web.Response:
    app = request.app
    deployment_id = request.match_info["id"]
    if not is_deployment_id(deployment_id):
        raise ApiError(
            400,
            "invalid_id",
            f"{deployment_id[:40]!r} is not a deployment id (12 characters of a-z and 2-7)",
            field="id",
        )
    offset, limit, stream, tail = _parameters(request.query)
    try:
        record = await blocking(app, app[STATE].find, deployment_id)
    except redis.RedisError as exc:
        raise redis_failure(exc) from None
    if record is None:
        raise await _not_found(app, deployment_id)
    service = await blocking(app, app[HISTORY].service, app)
    body = await blocking(
        app, read_log, service.instance, app[SETTINGS], record, stream, offset, limit, tail
    )
    return web.json_response(body)
