"""GitHub deliveries turned into deployments.

  POST /api/webhooks/github/<project>   the project's own payload URL (what
                                        `deploy-platform project create` prints)
  POST /api/webhooks/github             the shared URL of earlier versions

No API token (GitHub cannot send one): each delivery is signed with the webhook
secret of a project (`X-Hub-Signature-256`). A delivery is handled in this
order, so that nothing happens -- and nothing costly is done -- for one that is
not proven to come from GitHub (`deploy_platform.api.webhook_intake` reads bodies):

  1. `application/json` (415 otherwise) and a signature header shaped like one
     (401), before a byte of the body is read;
  2. the project's URL: the body is streamed through the HMAC with the project's
     secret (at most 25 MB, GitHub's own cap; 413 as soon as it is passed) and
     parsed only when it matched. The shared URL: at most 1 MB is read and parsed
     (413 beyond, naming the project's URL), just far enough to name the
     repository, and each project building it has its secret tried;
  3. a bad signature, an unknown project and a repository nobody builds all get
     the same 401 (`bad_signature`): the answer does not say which exist;
  4. only then is the rest checked -- the `X-GitHub-Event` and `X-GitHub-Delivery`
     headers and the fields the event needs (400 naming the field); on the
     project's URL the payload's repository must be the project's (400);
  5. per project, `deploy_platform.github.webhooks.plan` decides, and a deploy or an
     alias removal first claims the delivery for the project
     (`deploy_platform.github.webhooks.deliveries`), so a redelivery acts once.

Every JSON body is read with a nesting limit (`deploy_platform.contracts.json_limits`).

Deploying is `deploy_platform.api.webhook_deploys.deploy`: what `POST
/api/deployments` does (the record, the queue, GitHub's `pending` status) with the
commit the delivery names, once per commit of a branch (a push and its pull
request's event share one build), and a pull request whose head commit's message
holds a skip marker skipped. Taking a preview down is
`deploy_platform.github.webhooks.take_down_preview`.

Answers: 202 when something was queued or joined, else 200, with
`{"event", "delivery", "results": [{"project", "outcome", "reason", ...}]}`; an
outcome is `queued` (with the deployment's `id`, `environment`, `alias`, `urls`),
`joined` (the same, for the deployment of that commit another delivery queued),
`alias_removed` / `no_alias` (with `detached`: unfinished deployments that no
longer move the alias), `skipped` (with `marker` when a commit message's skip
marker skipped it), `ignored` or `duplicate` (with `first`: what the first copy did).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from aiohttp import web

from deploy_platform.api.errors import ApiError, redis_failure, unavailable, unsupported_media_type
from deploy_platform.api.keys import (
    ALIAS_INDEX,
    EXECUTOR,
    SETTINGS,
    STATE,
    STORE,
    UNSIGNED_PARSES,
    blocking,
)
from deploy_platform.api.projects import read_project_or_503
from deploy_platform.api.scratch import scratch_root
from deploy_platform.api.webhook_deploys import deploy
from deploy_platform.api.webhook_intake import (
    MAX_WEBHOOK_BYTES,
    bad_signature,
    check_signature_header,
    read_signed_body,
    read_unsigned_body,
)
from deploy_platform.contracts.names import InvalidName, validate_project_name
from deploy_platform.github.webhooks import (
    DELIVERY_HEADER,
    Action,
    DeliveryLog,
    Deploy,
    RemoveAlias,
    Skip,
    check_delivery_id,
    parse_event,
    parse_payload,
    plan,
    repository_urls,
    signature_matches,
    take_down_preview,
)
from deploy_platform.projects.model import Project
from deploy_platform.projects.store import projects_for_repository, repository_identity
from deploy_platform.storage import ObjectStoreError

__all__ = ["EVENT_HEADER", "MAX_WEBHOOK_BYTES", "github_webhook", "project_webhook"]

log = logging.getLogger("deploy_platform.api.webhooks")

EVENT_HEADER = "X-GitHub-Event"


def _check_content_type(request: web.Request) -> None:
    if request.content_type != "application/json":
        raise unsupported_media_type(
            request.content_type,
            "delivery",
            "set the webhook's content type to application/json in the repository's webhook "
            "settings",
        )


async def project_webhook(request: web.Request) -> web.Response:
    """`POST /api/webhooks/github/<project>`: the signature is checked before parsing."""
    app = request.app
    _check_content_type(request)
    signature = check_signature_header(request)
    project = await _project_named(app, request.match_info["project"])
    secret = project.webhook_secret if project is not None else None
    body = await read_signed_body(request, secret, signature, scratch_root(app), app[EXECUTOR])
    assert project is not None  # a missing project never matches a signature
    payload = await blocking(app, parse_payload, body)
    del body
    urls = repository_urls(payload)
    if not urls and request.headers.get(EVENT_HEADER, "").strip() == "ping":
        return _ping_answer(request)
    identities = {repository_identity(url) for url in urls}
    if project.repo_url is None or repository_identity(project.repo_url) not in identities:
        named = urls[0] if urls else "no repository"
        raise ApiError(
            400,
            "repository_mismatch",
            f"the delivery is for {named}, but project {project.name} builds "
            f"{project.repo_url or 'no repository'}; add this webhook to the project's "
            "repository, or point the project at this one (`deploy-platform project update "
            f"{project.name} --repo ...`)",
            field="repository.clone_url",
        )
    return await _act(request, payload, [project])


async def github_webhook(request: web.Request) -> web.Response:
    """`POST /api/webhooks/github`: the payload names the repository, then its projects'
    secrets are tried (a small parse budget: see `webhook_intake`)."""
    app = request.app
    _check_content_type(request)
    signature = check_signature_header(request)
    body = await read_unsigned_body(request)
    # Parsed twice when signed: the unverified parse is dropped inside the call, and
    # one runs at a time, so a flood never holds more than one parsed body.
    async with app[UNSIGNED_PARSES]:
        urls = await blocking(app, lambda: repository_urls(parse_payload(body)))
    if not urls and request.headers.get(EVENT_HEADER, "").strip() == "ping":
        # An organization's webhook pings without a repository: there is no project
        # secret to check it against, and a ping does nothing anyway.
        return _ping_answer(request)
    if not urls:
        raise ApiError(
            400,
            "invalid_payload",
            "the payload names no repository (repository.clone_url); this endpoint takes "
            "the webhooks of a repository",
            field="repository.clone_url",
        )
    candidates = await _projects_building(app, urls)
    verified = await blocking(
        app,
        lambda: [p for p in candidates if signature_matches(p.webhook_secret, body, signature)],
    )
    if not verified:
        raise bad_signature()
    payload = await blocking(app, parse_payload, body)
    return await _act(request, payload, verified)


def _ping_answer(request: web.Request) -> web.Response:
    return web.json_response(
        {"event": "ping", "delivery": request.headers.get(DELIVERY_HEADER), "results": []}
    )


async def _act(
    request: web.Request, payload: dict[str, Any], projects: list[Project]
) -> web.Response:
    """A delivery whose signature matched: its headers and event checked, then acted on."""
    app = request.app
    event_name = request.headers.get(EVENT_HEADER, "").strip()
    if not event_name:
        raise ApiError(
            400,
            "missing_header",
            f"the {EVENT_HEADER} header is missing; GitHub sends it with every delivery",
            field=EVENT_HEADER,
        )
    delivery = check_delivery_id(request.headers.get(DELIVERY_HEADER))
    event = parse_event(event_name, payload)
    results = [await _handle(app, delivery, project, plan(event, project)) for project in projects]
    for result in results:
        log.info("delivery %s (%s) for %s: %s", delivery, event_name, result["project"], result)
    queued = any(result["outcome"] in ("queued", "joined") for result in results)
    return web.json_response(
        {"event": event_name, "delivery": delivery, "results": results},
        status=202 if queued else 200,
    )


async def _project_named(app: web.Application, name: str) -> Project | None:
    """The project of the URL; None (answered like a bad signature later) when there is none."""
    try:
        validate_project_name(name)
    except InvalidName:
        return None
    return await read_project_or_503(app, name)


async def _projects_building(app: web.Application, urls: tuple[str, ...]) -> list[Project]:
    """The stored projects whose repository is one of `urls` (maybe none)."""
    state = app[STATE]
    names: set[str] = set()
    try:
        for url in urls:
            names.update(await blocking(app, projects_for_repository, state, url))
    except redis.RedisError as exc:
        raise redis_failure(exc) from None
    identities = {repository_identity(url) for url in urls}
    projects = []
    for name in sorted(names):
        project = await read_project_or_503(app, name)
        # The index can lag a change of repository: the stored object decides.
        if project is not None and project.repo_url is not None:
            if repository_identity(project.repo_url) in identities:
                projects.append(project)
    return projects


async def _handle(
    app: web.Application, delivery: str, project: Project, action: Action
) -> dict[str, Any]:
    if isinstance(action, Skip):
        skipped = {"project": project.name, "outcome": action.outcome, "reason": action.reason}
        return skipped if action.marker is None else {**skipped, "marker": action.marker}
    deliveries = DeliveryLog(app[STATE], app[SETTINGS].webhook_delivery_ttl_seconds)
    try:
        first = await blocking(app, deliveries.claim, delivery, project.name)
    except redis.RedisError as exc:
        raise redis_failure(exc) from None
    if first is not None:
        return {
            "project": project.name,
            "outcome": "duplicate",
            "reason": f"delivery {delivery} was received before; it acts once",
            "first": first,
        }
    try:
        if isinstance(action, Deploy):
            result = await deploy(app, delivery, project, action)
        else:
            result = await _remove(app, delivery, project, action)
    except Exception:
        try:
            await blocking(app, deliveries.release, delivery, project.name)
        except redis.RedisError:
            pass  # the claim expires with its TTL
        raise
    try:
        await blocking(app, deliveries.record, delivery, project.name, result)
    except redis.RedisError:
        pass  # done is done; a copy now would answer "in progress"
    return result


async def _remove(
    app: web.Application, delivery: str, project: Project, action: RemoveAlias
) -> dict[str, Any]:
    try:
        done = await blocking(
            app,
            take_down_preview,
            app[STORE],
            app[STATE],
            project.name,
            action.alias,
            action.branch,
            app.get(ALIAS_INDEX),
            actor=f"webhook:{delivery}",
        )
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    base: dict[str, Any] = {"project": project.name, "alias": action.alias}
    if done.detached:
        # Queued or building when the branch went: they will not bring the preview back.
        base["detached"] = list(done.detached)
    if done.removed is None:
        return {
            **base,
            "outcome": "no_alias",
            "reason": f"{action.reason}; {action.alias} was not set or shows another branch",
        }
    return {
        **base,
        "outcome": "alias_removed",
        "reason": f"{action.reason}; its deployments stay at their own hosts",
        "deployment": done.removed,
        "url": app[SETTINGS].public_url(action.alias),
    }
