"""Projects: create, show, change, delete, list; rotate the GitHub webhook secret.

  POST   /api/projects            {"name": "docs", "repo_url": "https://...", ...}
                                  201 the project plus "webhook_secret" (shown this once;
                                  only for a project with a repository: one without
                                  gets its secret when a repository is set, in that
                                  PATCH's answer) and "production_branch_from": without a
                                  production_branch, the repository's default branch
                                  (its HEAD) is production, as on Cloudflare Pages;
                                  DP_PRODUCTION_BRANCH when the repository does not say
  GET    /api/projects            {"projects": [project, ...]} sorted by name: the stored
                                  ones and the names deployed before every deployed
                                  name got a project ("stored": false)
  GET    /api/projects/{name}     the project, with its custom domains; its "urls" are
                                  "production" and "dagster_runs" (the Dagster UI's
                                  list of its runs)
  PATCH  /api/projects/{name}     {"production_branch": "trunk", "build": {...}, ...}
                                  200 the changed project
  DELETE /api/projects/{name}     200 {"name", "deleted": true, "domains": [...]}
  POST   /api/projects/{name}/webhook-secret
                                  200 {"name", "webhook_secret"}: a new secret, the old
                                  one stops working

Every deployed name is a project (`deploy_platform.projects.store`): a name
deployed before that rule is shown from its deployments, and stored by its first
change (PATCH, webhook-secret).

The fields and their rules are `deploy_platform.projects.model`'s; what delete
leaves in place is `deploy_platform.projects.store`'s docstring. Refusals:
400 (malformed_json, invalid_body, unknown_field, missing_field, invalid_type,
invalid_project, invalid_repo_url, invalid_branch, invalid_branch_pattern,
invalid_build, production_branch_excluded, rename_unsupported), 404
project_not_found, 409 project_exists, 400 no_repository (webhook-secret of a
project without a repository), 503 redis_unavailable / storage_unavailable.
A project answer never holds a build variable's value (`***`) or, after
creation, the webhook secret.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import redis
from aiohttp import web

from deploy_platform.api.errors import ApiError, unavailable
from deploy_platform.api.keys import GIT_ALLOW, SETTINGS, STATE, STORE, blocking
from deploy_platform.api.validation import parse_json_object
from deploy_platform.contracts.domains import Domain
from deploy_platform.contracts.errors import InvalidRequest, SourceError
from deploy_platform.contracts.names import InvalidName, production_alias, validate_project_name
from deploy_platform.projects.domains import list_domains
from deploy_platform.projects.model import Project, apply_changes, new_project
from deploy_platform.projects.store import (
    InvalidProjectObject,
    ProjectExists,
    ProjectNotFound,
    create_project,
    delete_project,
    ensure_project,
    implicit_project,
    list_projects,
    read_project,
    rotate_webhook_secret,
    update_project,
)
from deploy_platform.source.git.commits import remote_head
from deploy_platform.source.repo_url import validate_repo_url
from deploy_platform.storage import ObjectStoreError
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "WEBHOOK_PATH",
    "create_project_handler",
    "list_projects_handler",
    "get_project_handler",
    "update_project_handler",
    "delete_project_handler",
    "rotate_secret_handler",
    "read_project_or_503",
]

WEBHOOK_PATH = "/api/webhooks/github"
# How long creating a project waits for the repository to name its default branch.
_HEAD_TIMEOUT = 15.0


def _unreadable(exc: InvalidProjectObject) -> ApiError:
    return ApiError(
        500,
        "project_unreadable",
        f"{exc}; fix or delete the object in the store (DELETE removes it)",
    )


def _name(request: web.Request) -> str:
    try:
        return validate_project_name(request.match_info["name"])
    except InvalidName as exc:
        raise ApiError(400, "invalid_project", str(exc), field="name") from None


def _not_found(exc: ProjectNotFound) -> ApiError:
    return ApiError(404, "project_not_found", str(exc), field="name")


#: What changing a stored project can raise besides a refused change.
_STORED_PROJECT_FAILURES = (
    ProjectNotFound,
    InvalidProjectObject,
    redis.RedisError,
    ObjectStoreError,
)


def _stored_project_failure(exc: Exception) -> ApiError:
    """404 for a missing project, 500 for an unreadable one, else 503 (or 507)."""
    if isinstance(exc, ProjectNotFound):
        return _not_found(exc)
    if isinstance(exc, InvalidProjectObject):
        return _unreadable(exc)
    return unavailable(exc)


def _answer(
    request: web.Request,
    project: Project,
    domains: list[Domain],
    stored: bool = True,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    settings = request.app[SETTINGS]
    return {
        **project.public_dict(),
        "stored": stored,
        "domains": [d.hostname for d in domains if d.project == project.name],
        "urls": {
            "production": settings.public_url(production_alias(project.name)),
            # Its runs in the Dagster UI, the history of every build and check.
            "dagster_runs": settings.project_runs_url(project.name),
        },
        # The project's own payload URL: its secret is known before the body is read.
        "webhook_path": f"{WEBHOOK_PATH}/{project.name}",
        **(extra or {}),
    }


def _check_repo(request: web.Request) -> Callable[[object], str]:
    allow = request.app[GIT_ALLOW]

    def check(value: object) -> str:
        return validate_repo_url(value, allow).url

    return check


def _refusal(exc: InvalidRequest) -> ApiError:
    return ApiError.from_invalid_request(exc)


async def _domains(app: web.Application, name: str) -> list[Domain]:
    """The custom domains mapped to project `name`; 503 when the object store does not answer."""
    try:
        return await blocking(app, list_domains, app[STORE], name)
    except ObjectStoreError as exc:
        raise unavailable(exc) from None


async def read_project_or_503(app: web.Application, name: str) -> Project | None:
    """The stored project for request handlers elsewhere (deployments, webhooks)."""
    try:
        return await blocking(app, read_project, app[STORE], name)
    except ObjectStoreError as exc:
        raise unavailable(exc) from None
    except InvalidProjectObject as exc:
        raise _unreadable(exc) from None


async def _repository_default(app: web.Application, repo_url: str | None) -> tuple[str, str]:
    """(production branch, where it comes from) for a project created without one:
    the repository's default branch, else DP_PRODUCTION_BRANCH."""
    fallback = app[SETTINGS].production_branch
    if repo_url is None:
        return fallback, "platform default (no repository)"
    try:
        repo = await blocking(app, validate_repo_url, repo_url, app[GIT_ALLOW])
        head = await blocking(app, remote_head, repo, timeout=_HEAD_TIMEOUT)
    except (InvalidRequest, SourceError) as exc:
        # The project can still be made (the repository may be set up later); the
        # answer says production is the platform's default and why.
        return fallback, f"platform default (the repository's default branch is unknown: {exc})"
    if head.branch is None:
        return fallback, "platform default (the repository names no default branch yet)"
    return head.branch, "repository default branch"


async def create_project_handler(request: web.Request) -> web.Response:
    app = request.app
    data = parse_json_object(await request.read())
    now = app[STATE].now()
    try:
        # Off the loop: checking repo_url resolves its host.
        project = await blocking(app, new_project, data, _check_repo(request), now)
        production_from = "request"
        if "production_branch" not in data:
            branch, production_from = await _repository_default(app, project.repo_url)
            data = {**data, "production_branch": branch}
            project = await blocking(app, new_project, data, _check_repo(request), now)
    except InvalidRequest as exc:
        raise _refusal(exc) from None
    try:
        await blocking(app, create_project, app[STORE], app[STATE], project)
        domains = await blocking(app, list_domains, app[STORE], project.name)
    except ProjectExists as exc:
        raise ApiError(409, "project_exists", str(exc), field="name") from None
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    secret = {"webhook_secret": project.webhook_secret} if project.webhook_secret else {}
    answer = _answer(
        request, project, domains, extra={"production_branch_from": production_from, **secret}
    )
    return web.json_response(
        answer, status=201, headers={"Location": f"/api/projects/{project.name}"}
    )


def _implicit_projects(
    state: PlatformState, stored: set[str], production_branch: str
) -> list[Project]:
    """The names deployed before every deployed name got a project, described."""
    found = (
        implicit_project(state, name, production_branch)
        for name in state.deployed_projects()
        if name not in stored
    )
    return [project for project in found if project is not None]


async def list_projects_handler(request: web.Request) -> web.Response:
    app = request.app
    try:
        projects = await blocking(app, list_projects, app[STORE], app[STATE])
        implicit = await blocking(
            app,
            _implicit_projects,
            app[STATE],
            {p.name for p in projects},
            app[SETTINGS].production_branch,
        )
        domains = await blocking(app, list_domains, app[STORE]) if projects or implicit else []
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    answers = [_answer(request, p, domains) for p in projects]
    answers += [_answer(request, p, domains, stored=False) for p in implicit]
    answers.sort(key=lambda answer: str(answer["name"]))
    return web.json_response({"projects": answers})


async def _implicit_or_404(app: web.Application, name: str) -> Project:
    try:
        project = await blocking(
            app, implicit_project, app[STATE], name, app[SETTINGS].production_branch
        )
    except redis.RedisError as exc:
        raise unavailable(exc) from None
    if project is None:
        raise _not_found(ProjectNotFound(name))
    return project


async def _stored_from_deployments(app: web.Application, name: str) -> None:
    """Store the project of a name deployed before projects were made on deploy, so it
    can be changed (a lazy migration); nothing when it is stored or was never deployed."""
    if await read_project_or_503(app, name) is not None:
        return
    project = await _implicit_or_404(app, name)
    now = app[STATE].now()
    stamped = dataclasses.replace(project, created_at=now, updated_at=now)
    try:
        await blocking(app, ensure_project, app[STORE], app[STATE], stamped)
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None


async def get_project_handler(request: web.Request) -> web.Response:
    app = request.app
    name = _name(request)
    project = await read_project_or_503(app, name)
    stored = project is not None
    if project is None:
        project = await _implicit_or_404(app, name)
    return web.json_response(_answer(request, project, await _domains(app, name), stored))


async def update_project_handler(request: web.Request) -> web.Response:
    app = request.app
    name = _name(request)
    data = parse_json_object(await request.read())
    check_repo = _check_repo(request)
    await _stored_from_deployments(app, name)
    had_secret: list[bool] = []

    def change(current: Project) -> Project:
        had_secret.append(bool(current.webhook_secret))
        return apply_changes(current, data, check_repo)

    try:
        project = await blocking(app, update_project, app[STORE], app[STATE], name, change)
        domains = await _domains(app, name)
    except InvalidRequest as exc:
        raise _refusal(exc) from None
    except _STORED_PROJECT_FAILURES as exc:
        raise _stored_project_failure(exc) from None
    # A repository given to a project without a secret made one: shown here, once.
    made = project.webhook_secret and had_secret and not had_secret[-1]
    secret = {"webhook_secret": project.webhook_secret} if made else {}
    return web.json_response(_answer(request, project, domains, extra=secret))


async def delete_project_handler(request: web.Request) -> web.Response:
    app = request.app
    name = _name(request)
    try:
        removed = await blocking(app, delete_project, app[STORE], app[STATE], name)
        domains = await _domains(app, name) if removed else []
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    if removed is None:
        raise _not_found(ProjectNotFound(name))
    return web.json_response(
        {
            "name": name,
            "deleted": True,
            # Still mapped: deleting settings leaves domains, aliases and deployments serving.
            "domains": [d.hostname for d in domains],
        }
    )


async def rotate_secret_handler(request: web.Request) -> web.Response:
    app = request.app
    name = _name(request)
    await _stored_from_deployments(app, name)
    try:
        project = await blocking(app, rotate_webhook_secret, app[STORE], app[STATE], name)
    except InvalidRequest as exc:
        raise _refusal(exc) from None
    except _STORED_PROJECT_FAILURES as exc:
        raise _stored_project_failure(exc) from None
    return web.json_response(
        {
            "name": name,
            "webhook_secret": project.webhook_secret,
            "webhook_secret_rotated_at": project.secret_rotated_at,
        }
    )
