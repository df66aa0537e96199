"""JSON errors: every refusal and failure the API answers has the same shape.

  {"error": {"code": "invalid_repo_url", "message": "...", "field": "repo_url"}}

`code` is stable for programs, `message` says what to fix, `field` (when there
is one) names the request field at fault. Unexpected exceptions become a
generic 500; their traceback goes to the server log only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import redis
from aiohttp import web
from aiohttp.typedefs import Handler

from deploy_platform.errors import InvalidRequest

__all__ = ["ApiError", "error_response", "error_middleware", "unavailable"]

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
    """503 for a Redis or object store failure: the request may be sent again."""
    if isinstance(exc, redis.RedisError):
        return ApiError(
            503, "redis_unavailable", "the platform's Redis is not reachable; try again shortly"
        )
    return ApiError(503, "storage_unavailable", f"the object store failed: {exc}")


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
            "no such endpoint; the API serves /api/deployments, /api/domains, "
            "/api/projects, /api/webhooks/github, /api/history and /api/health"
        )
    elif exc.status == 405:
        message = f"method not allowed here; use {exc.headers.get('Allow', 'another method')}"
    else:
        message = exc.text or exc.reason
    return error_response(exc.status, code, message, headers=headers)


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
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return error_response(
            500, "internal_error", "internal error; the server log has the details"
        )
