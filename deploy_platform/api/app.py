"""The control API application: routes, middlewares and the clients it holds.

Start-up order (cleanup_ctx, torn down in reverse): the thread pool that runs
every blocking call, then the sweep of scratch directories a killed API left in
`<state>/tmp` (`deploy_platform.api.scratch`), then Redis (pinged, so a wrong
DP_REDIS_URL fails loudly at start-up rather than on the first deploy), then the
Worker's KV alias and domain indexes when configured (they record their failures
in Redis), then the object store, then the Redis index of projects rebuilt from
the store, then the commit status poster (its background posts are awaited first
on shutdown), then the deployment history (its Dagster instance is opened on the
first GET /api/history, not here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

import redis
from aiohttp import web
from aiohttp.typedefs import Middleware

from deploy_platform.api import keys
from deploy_platform.api.aliases import aliases_handler, promote_handler, rollback_handler
from deploy_platform.api.auth import auth_middleware
from deploy_platform.api.commit_status import status_poster_ctx
from deploy_platform.api.deployments import create_deployment, get_deployment
from deploy_platform.api.domains import create_domain, delete_domain, get_domains
from deploy_platform.api.errors import error_middleware
from deploy_platform.api.health import health
from deploy_platform.api.history import get_history, history_ctx
from deploy_platform.api.keys import blocking
from deploy_platform.api.listing import list_handler
from deploy_platform.api.logs import get_logs
from deploy_platform.api.projects import (
    WEBHOOK_PATH,
    create_project_handler,
    delete_project_handler,
    get_project_handler,
    list_projects_handler,
    rotate_secret_handler,
    update_project_handler,
)
from deploy_platform.api.scratch import scratch_sweep_ctx
from deploy_platform.api.webhooks import github_webhook, project_webhook
from deploy_platform.github.status_api import GitHubConfigError
from deploy_platform.projects.store import reindex_projects
from deploy_platform.publish.cloudflare_kv import (
    CloudflareKV,
    KVAliasIndex,
    KVConfig,
    KVDomainIndex,
)
from deploy_platform.settings.platform import Settings
from deploy_platform.source.repo_url import parse_allow_hosts
from deploy_platform.storage import open_store
from deploy_platform.storage.redis_state import API_RETRIES, PlatformState

__all__ = ["StartupError", "create_app", "MAX_JSON_BYTES"]

log = logging.getLogger("deploy_platform.api")

# JSON requests are a few hundred bytes; uploads stream past this limit (see uploads.py).
MAX_JSON_BYTES = 64 * 1024
_WORKERS = 8


class StartupError(RuntimeError):
    """A dependency the API needs is misconfigured or unreachable at start-up."""


async def _executor_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="dp-api")
    app[keys.EXECUTOR] = pool
    yield
    pool.shutdown(wait=True, cancel_futures=True)


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if not settings.redis_url:
        raise StartupError("DP_REDIS_URL is not set: give the control API the platform's Redis")
    # The short budget: a request answers 503 within a second while Redis is down.
    state = PlatformState.from_url(
        settings.redis_url, settings.redis_prefix, timeout=5.0, budget=API_RETRIES
    )
    try:
        await blocking(app, state.ping)
    except redis.RedisError as exc:
        state.redis.close()
        raise StartupError(f"cannot reach Redis at DP_REDIS_URL ({exc})") from exc
    app[keys.STATE] = state
    yield
    await blocking(app, state.redis.close)


def _kv_index_ctx(kv: KVConfig | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def kv_index_ctx(app: web.Application) -> AsyncIterator[None]:
        if kv is not None:
            # Aliases the API moves (rollback, promote) or takes down (webhook) reach KV
            # as well, as the ones the publisher moves do.
            app[keys.ALIAS_INDEX] = KVAliasIndex(CloudflareKV(kv), app[keys.STATE], log.warning)
            log.info("alias changes are copied to KV namespace %s", kv.namespace_id)
        if kv is not None and kv.domains_namespace_id:
            kv_namespace = CloudflareKV(kv, kv.domains_namespace_id)
            app[keys.DOMAIN_INDEX] = KVDomainIndex(kv_namespace, app[keys.STATE], log.warning)
            log.info("custom domains are copied to KV namespace %s", kv.domains_namespace_id)
        yield

    return kv_index_ctx


def _store_ctx(
    access_key_id: str | None, secret_access_key: str | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        try:
            store = await blocking(
                app, open_store, settings.storage_url, access_key_id, secret_access_key
            )
        except Exception as exc:
            raise StartupError(
                f"cannot open the object store {settings.storage_url}: {exc}"
            ) from exc
        app[keys.STORE] = store
        log.info("object store: %s", store.description)
        yield
        await blocking(app, store.close)

    return store_ctx


async def _project_index_ctx(app: web.Application) -> AsyncIterator[None]:
    # The store is the source of truth: a Redis that was flushed, or a write that
    # reached the store but not Redis, is repaired before the first request.
    try:
        count = await blocking(app, reindex_projects, app[keys.STORE], app[keys.STATE])
    except Exception as exc:
        raise StartupError(f"cannot index the projects in the object store: {exc}") from exc
    log.info("projects indexed: %d", count)
    yield


def create_app(
    settings: Settings,
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    kv: KVConfig | None = None,
) -> web.Application:
    """The control API; storage credentials are passed in, never read from the URL.

    `kv` (from the DP_CF_* settings) makes every alias the API moves (rollback,
    promote) or takes down (the GitHub webhook) reach the Worker's KV namespace
    ALIASES as well; with a domains namespace, every domain added or removed
    reaches its KV namespace DOMAINS.

    Raises `StartupError` for settings that cannot work (a bad DP_GIT_ALLOW_HOSTS entry,
    a bad DP_GITHUB_API_URL).
    """
    try:
        git_allow = parse_allow_hosts(settings.git_allow_hosts)
        settings.github_config()
    except (ValueError, GitHubConfigError) as exc:
        raise StartupError(str(exc)) from None
    middlewares: list[Middleware] = [error_middleware]
    if settings.api_token:
        middlewares.append(auth_middleware(settings.api_token))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_JSON_BYTES)
    app[keys.SETTINGS] = settings
    app[keys.GIT_ALLOW] = git_allow
    app[keys.UNSIGNED_PARSES] = asyncio.Semaphore(1)
    app.cleanup_ctx.extend(
        [
            _executor_ctx,
            scratch_sweep_ctx,
            _redis_ctx,
            _kv_index_ctx(kv),
            _store_ctx(access_key_id, secret_access_key),
            _project_index_ctx,
            status_poster_ctx,
            history_ctx,
        ]
    )
    app.router.add_post("/api/deployments", create_deployment)
    app.router.add_get("/api/deployments", list_handler)
    app.router.add_get("/api/deployments/{id}", get_deployment)
    app.router.add_get("/api/deployments/{id}/logs", get_logs)
    app.router.add_post("/api/domains", create_domain)
    app.router.add_get("/api/domains", get_domains)
    app.router.add_delete("/api/domains/{hostname}", delete_domain)
    app.router.add_post("/api/projects", create_project_handler)
    app.router.add_get("/api/projects", list_projects_handler)
    app.router.add_get("/api/projects/{name}", get_project_handler)
    app.router.add_patch("/api/projects/{name}", update_project_handler)
    app.router.add_delete("/api/projects/{name}", delete_project_handler)
    app.router.add_post("/api/projects/{name}/webhook-secret", rotate_secret_handler)
    app.router.add_post(WEBHOOK_PATH, github_webhook)
    app.router.add_post(WEBHOOK_PATH + "/{project}", project_webhook)
    app.router.add_post("/api/projects/{name}/rollback", rollback_handler)
    app.router.add_get("/api/projects/{name}/aliases", aliases_handler)
    app.router.add_post("/api/deployments/{id}/promote", promote_handler)
    app.router.add_get("/api/history", get_history)
    app.router.add_get("/api/health", health)
    return app
