"""JSON errors: every refusal and failure the API answers has the same shape.

  {"error": {"code": "invalid_repo_url", "message": "...", "field": "repo_url"}}

`code` is stable for programs, `message` says what to fix, `field` (when there
is one) names the request field at fault. Unexpected exceptions become a
generic 500; their traceback goes to the server log only.

Infrastructure faults name their cause: a full disk (ENOSPC or a quota, on the
API's own disk, the local object directory's, or Redis's, which then refuses
writes with MISCONF) answers 507 `disk_full` naming the directory and its
filesystem; a disk I/O error 503 `disk_error`; Redis unreachable 503
`redis_unavailable`; the object store unreachable 503 `storage_unavailable`.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import redis
from aiohttp import web
from aiohttp.typedefs import Handler

from deploy_platform.api.keys import SETTINGS
from deploy_platform.contracts.errors import DiskError, InvalidRequest, is_disk_fault
from deploy_platform.storage.redis_state import server_error_code, server_error_text

__all__ = [
    "ApiError",
    "error_response",
    "error_middleware",
    "unavailable",
    "disk_full",
    "disk_fault",
    "redis_failure",
    "redis_disk_full",
]

log = logging.getLogger("deploy_platform.api")

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    410: "gone",
    411: "length_required",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    507: "disk_full",
}


class ApiError(Exception):
    """A refusal with its HTTP status, stable code and a message that says what to fix."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    @classmethod
    def from_invalid_request(cls, exc: InvalidRequest) -> ApiError:
        code = getattr(exc, "code", None)
        if not isinstance(code, str):
            code = f"invalid_{exc.field}" if exc.field else "invalid_request"
        return cls(exc.status, code, str(exc), exc.field)

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.field, self.headers)


def unavailable(exc: Exception) -> ApiError:
    """503 for a Redis or object store failure: the request may be sent again;
    507 when it failed because a disk is full."""
    if isinstance(exc, redis.RedisError):
        return redis_failure(exc)
    if isinstance(exc, DiskError):
        return disk_fault(exc.target, exc.errno)
    return ApiError(503, "storage_unavailable", f"the object store failed: {exc}")


def unsupported_media_type(content_type: str, what: str, fix: str) -> ApiError:
    """415 for a body of a type the endpoint does not take; `fix` says what to send."""
    return ApiError(415, "unsupported_media_type", f"cannot take a {content_type} {what}: {fix}")


def _mount_of(path: Path) -> Path:
    """The mount point of the filesystem holding `path` (or its nearest existing parent)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    return path


def disk_full(where: Path | str) -> ApiError:
    """507 Insufficient Storage naming the directory and its filesystem."""
    path = Path(where)
    mount = _mount_of(path)
    on = f" (the filesystem mounted at {mount})" if mount != path else ""
    return ApiError(
        507,
        "disk_full",
        f"no space left on device on {path}{on}; nothing was stored or queued: "
        "free space and retry",
    )


def disk_fault(where: Path | str, code: int | None) -> ApiError:
    """507 for a full disk, 503 for a disk that fails otherwise (I/O error, read-only)."""
    if code in (errno.ENOSPC, errno.EDQUOT):
        return disk_full(where)
    reason = os.strerror(code) if code else "a disk error"
    return ApiError(
        503,
        "disk_error",
        f"{reason} on {where}; nothing was stored or queued: check the disk and retry",
    )


def redis_failure(exc: redis.RedisError, data_dir: str | None = None) -> ApiError:
    """What a Redis error means for the client: its disk is full (507), or it is down."""
    if redis_disk_full(exc):
        where = f"its data directory {data_dir}" if data_dir else "its data directory"
        return ApiError(
            507,
            "disk_full",
            f"no space left on device: the platform's Redis cannot write {where} "
            f"({server_error_text(exc)[:160]}); nothing was queued: free space and retry",
        )
    return ApiError(
        503, "redis_unavailable", "the platform's Redis is not reachable; try again shortly"
    )


def redis_disk_full(exc: BaseException) -> bool:
    """Redis refuses writes (MISCONF) because it cannot persist to its disk."""
    return server_error_code(exc) == "MISCONF"


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return web.json_response({"error": error}, status=status, headers=headers)


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    headers = {}
    if "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    code = _CODES_BY_STATUS.get(exc.status, "http_error")
    if exc.status == 404:
        message = (
            "no such endpoint; the API serves /api/deployments (and their /logs), /api/domains, "
            "/api/projects, /api/webhooks/github, /api/history and /api/health"
        )
    elif exc.status == 405:
        message = f"method not allowed here; use {exc.headers.get('Allow', 'another method')}"
    else:
        message = exc.text or exc.reason
    return error_response(exc.status, code, message, headers=headers)


def _state_dir(request: web.Request) -> str:
    settings = request.app.get(SETTINGS)
    return str(settings.state_dir) if settings is not None else "the platform's state directory"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except InvalidRequest as exc:
        return ApiError.from_invalid_request(exc).response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_exception(exc)
    except DiskError as exc:
        return disk_fault(exc.target, exc.errno).response()
    except OSError as exc:
        if not is_disk_fault(exc):
            log.exception("unexpected error answering %s %s", request.method, request.path)
            return error_response(
                500, "internal_error", "internal error; the server log has the details"
            )
        log.warning("disk fault answering %s %s: %s", request.method, request.path, exc)
        return disk_fault(exc.filename or _state_dir(request), exc.errno).response()
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return error_response(
            500, "internal_error", "internal error; the server log has the details"
        )
