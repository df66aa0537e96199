"""Bearer-token authentication for every /api route except the health check and the
GitHub webhooks, the shared URL and each project's (GitHub cannot send the token;
each delivery is signed with the project's webhook secret instead, checked by
`deploy_platform.api.webhooks`)."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from deploy_platform.api.errors import ApiError
from deploy_platform.api.projects import WEBHOOK_PATH

__all__ = ["PUBLIC_PATHS", "auth_middleware", "is_public", "token_matches"]

# Load balancers and `deploy-platform up` probe the health check without a token.
PUBLIC_PATHS = frozenset({"/api/health", WEBHOOK_PATH})
_PUBLIC_PREFIX = WEBHOOK_PATH + "/"


def is_public(path: str) -> bool:
    """The health check, the shared webhook URL and each project's `.../github/<project>`."""
    return path in PUBLIC_PATHS or (
        path.startswith(_PUBLIC_PREFIX) and "/" not in path[len(_PUBLIC_PREFIX) :]
    )


def token_matches(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # SECURITY: constant-time comparison so the token cannot be guessed byte by byte.
    return hmac.compare_digest(given.strip().encode(), token.encode())


def auth_middleware(token: str) -> Middleware:
    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_public(request.path) and not token_matches(
            request.headers.get("Authorization"), token
        ):
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong API token: send 'Authorization: Bearer <token>' "
                "(the token is DP_API_TOKEN, or the api-token file in the state directory)",
                headers={"WWW-Authenticate": 'Bearer realm="deploy-platform"'},
            )
        return await handler(request)

    return check_token
