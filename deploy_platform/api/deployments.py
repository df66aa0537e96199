"""`POST /api/deployments` (from a git URL or an uploaded archive) and `GET /api/deployments/{id}`.

A deployment is accepted in this order, so that a refusal leaves no trace:
  1. the request is checked (fields, types, project name, ref syntax);
  2. the repository URL is checked (scheme, host, resolved addresses) and the ref
     is pinned to a commit with `git ls-remote` -- or the uploaded archive is
     received under the size limit, proven safe, and stored at sources/<id>.tar.gz;
  3. the record is written, then its id is queued for the Dagster sensor, then
     GitHub's `pending` status is written for its commit (posted in the background).
     `enqueue_record` is this step, shared with the GitHub webhook
     (`deploy_platform.api.webhooks`), which pins the commit from the delivery.

When the project exists (`deploy_platform.projects`), its settings are the
defaults: its build settings fill what the request's `build` leaves unset (build
variables merged by name, the request's winning), its production branch decides
production versus preview and is the ref when none is given. The branch rules are
not applied: they filter pushes (webhooks), and an explicit deploy names its ref.
A project that does not exist needs no settings: the platform's defaults apply,
and the repository's default branch (its HEAD, `git ls-remote --symref`) is the
production branch and the ref when none is given, as on Cloudflare Pages: a
repository whose default branch is `master` deploys to production. A repository
that does not say (an empty one) falls back to DP_PRODUCTION_BRANCH. An upload has
no repository to ask: DP_PRODUCTION_BRANCH is its production branch.

Every deployed name is a project: once the first deployment of a name is queued,
its project is stored (`projects.model.deployed_project`: the repository and the
production branch it was deployed with, no webhook secret), so `project list` and
`project show` know it as `rollback` and `aliases` do. A store that fails then
fails nothing: the deployment is queued, and the name is listed from its
deployments until a later deploy stores it.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import redis
from aiohttp import web

from deploy_platform.api.commit_status import report_queued
from deploy_platform.api.errors import (
    ApiError,
    disk_fault,
    redis_disk_full,
    redis_failure,
    unavailable,
    unsupported_media_type,
)
from deploy_platform.api.keys import EXECUTOR, GIT_ALLOW, SETTINGS, STATE, STORE, blocking
from deploy_platform.api.projects import read_project_or_503
from deploy_platform.api.scratch import scratch_dir, scratch_root
from deploy_platform.api.uploads import check_archive, is_archive_type, receive_upload
from deploy_platform.api.validation import (
    BUILD_HEADER,
    branch_name,
    parse_build_header,
    parse_git_request,
    parse_json_object,
    parse_upload_query,
)
from deploy_platform.api.waiting import queued_waiting
from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import SourceError, is_disk_fault
from deploy_platform.contracts.ids import ID_RULE, is_deployment_id, new_deployment_id
from deploy_platform.contracts.manifest import source_key
from deploy_platform.contracts.names import InvalidName, preview_alias, production_alias
from deploy_platform.contracts.records import DeploymentRecord, Environment, SourceKind, Status
from deploy_platform.projects.model import Project, deployed_project, deployment_build
from deploy_platform.projects.store import ensure_project
from deploy_platform.retention.collect import archive_key
from deploy_platform.settings.platform import Settings
from deploy_platform.source.git.commits import remote_head
from deploy_platform.source.git.errors import RefNotFound
from deploy_platform.source.git.remote import ls_remote
from deploy_platform.source.repo_url import validate_repo_url
from deploy_platform.storage import ObjectNotFound, ObjectStoreError, StoreDiskError

__all__ = [
    "LS_REMOTE_TIMEOUT",
    "plan_record",
    "enqueue_record",
    "redis_refusal",
    "create_deployment",
    "get_deployment",
    "location",
]

LS_REMOTE_TIMEOUT = 30.0

log = logging.getLogger("deploy_platform.api")


def location(deployment_id: str) -> str:
    return f"/api/deployments/{deployment_id}"


def plan_record(
    settings: Settings,
    deployment_id: str,
    project: str,
    ref: str,
    source: SourceKind,
    *,
    repo_url: str | None = None,
    commit: str | None = None,
    build: BuildSettings | None = None,
    production_branch: str | None = None,
    preview_at: str | None = None,
    trigger: str = "api",
) -> DeploymentRecord:
    """The new record: the production branch (the project's, else the platform's)
    moves the project's alias, others a preview; `preview_at` makes it a preview at
    that alias whatever the branch (a pull request's `pr-<n>--<project>`).

    `build` (the request's overrides, secrets included) is stored for the pipeline;
    the API only ever shows it redacted (`DeploymentRecord.to_public_dict`).
    `trigger` says what asked for it: "api" (a deploy), "webhook" (a GitHub delivery).
    """
    branch = branch_name(ref)
    if preview_at is not None:
        environment, alias, kind = Environment.PREVIEW, preview_at, "preview"
    elif branch == (production_branch or settings.production_branch):
        environment, alias, kind = Environment.PRODUCTION, production_alias(project), "production"
    else:
        try:
            alias = preview_alias(project, branch)
        except InvalidName as exc:
            raise ApiError(400, "invalid_ref", str(exc), field="ref") from None
        environment, kind = Environment.PREVIEW, "preview"
    return DeploymentRecord(
        id=deployment_id,
        project=project,
        source=source,
        environment=environment,
        repo_url=repo_url,
        ref=branch,
        commit=commit,
        aliases=(alias,),
        urls={"deployment": settings.public_url(deployment_id), kind: settings.public_url(alias)},
        build=(build or BuildSettings()).to_dict(),
        trigger=trigger,
    )


def _project_defaults(
    project: Project | None, ref: str, ref_given: bool, build: BuildSettings
) -> tuple[str, BuildSettings, str | None]:
    """(ref, build settings, production branch) once the project's defaults apply."""
    if project is None:
        return ref, build, None
    return (
        ref if ref_given else project.production_branch,
        deployment_build(project, build),
        project.production_branch,
    )


async def redis_refusal(app: web.Application, exc: redis.RedisError) -> ApiError:
    """503 Redis down, or 507 when Redis refuses writes because its disk is full."""
    if not redis_disk_full(exc):
        return redis_failure(exc)
    data_dir: str | None = None
    try:  # reads still work on a Redis whose disk is full
        reply = await blocking(app, app[STATE].redis.config_get, "dir")
        data_dir = str(reply.get("dir") or reply.get(b"dir") or "") or None
    except redis.RedisError:
        pass
    return redis_failure(exc, data_dir)


async def enqueue_record(
    app: web.Application, record: DeploymentRecord, *, stored: bool = False
) -> DeploymentRecord:
    """Write the record, queue its id, mark its commit `pending`; the record as queued.

    Every deployment goes through here, whatever asked for it (a deploy, an upload,
    a GitHub webhook). `stored`: the caller already wrote the record, stamped queued
    (a webhook's, with its commit claim). Raises `ApiError` 503 when Redis cannot take it.
    """
    state = app[STATE]
    if not stored:
        # Stamped here so the answer needs no read-back: once queued, nothing may undo it.
        record = record.with_status(Status.QUEUED)
        try:
            await blocking(app, state.create, record)
        except redis.RedisError as exc:
            raise await redis_refusal(app, exc) from None
    try:
        await blocking(app, state.enqueue, record.id)
    except redis.RedisError as exc:
        # Never leave a record that claims to be queued when it is not.
        try:
            await blocking(
                app,
                state.set_status,
                record.id,
                Status.FAILED,
                error="could not be queued (Redis unreachable); deploy again",
            )
        except redis.RedisError:
            pass
        raise await redis_refusal(app, exc) from None
    # GitHub's `pending` on the commit; posted in the background, never fails the request.
    await report_queued(app, record)
    return record


async def _record_and_enqueue(
    app: web.Application, record: DeploymentRecord, project: Project | None, production: str
) -> web.Response:
    """Queue it; then store its project if it is the name's first (module docstring)."""
    record = await enqueue_record(app, record)
    if project is None:
        made = deployed_project(record.project, record.repo_url, production, app[STATE].now())
        try:
            await blocking(app, ensure_project, app[STORE], app[STATE], made)
        except (redis.RedisError, ObjectStoreError) as exc:
            log.warning(
                "project %s is not stored yet (%s); listed from its deployments", made.name, exc
            )
    return web.json_response(
        record.to_public_dict(), status=202, headers={"Location": location(record.id)}
    )


async def create_deployment(request: web.Request) -> web.Response:
    content_type = request.content_type
    if content_type == "application/json":
        return await _create_from_git(request)
    if is_archive_type(content_type):
        return await _create_from_upload(request)
    raise unsupported_media_type(
        content_type,
        "body",
        "send JSON with 'Content-Type: application/json', "
        "or a tar.gz of the source with 'Content-Type: application/gzip'",
    )


async def _create_from_git(request: web.Request) -> web.Response:
    app = request.app
    settings = app[SETTINGS]
    if request.query:
        name = next(iter(request.query))
        raise ApiError(
            400,
            "unknown_field",
            f"query parameter {name!r} is only for uploads; put repo_url, ref and project "
            "in the JSON body",
            field=name,
        )
    data = parse_json_object(await request.read())
    wanted = parse_git_request(data, settings.production_branch)
    project = await read_project_or_503(app, wanted.project)
    ref, build, production_branch = _project_defaults(
        project, wanted.ref, "ref" in data, wanted.build
    )
    # Resolves the host's addresses: blocking DNS, so off the loop.
    repo = await blocking(app, validate_repo_url, wanted.repo_url, app[GIT_ALLOW])
    try:
        commit: str | None = None
        if project is None:
            # No project to say: the repository's default branch is production.
            head = await blocking(app, remote_head, repo, timeout=LS_REMOTE_TIMEOUT)
            production_branch = head.branch
            if "ref" not in data and head.branch is not None:
                ref, commit = head.branch, head.commit
        if commit is None:
            # The validated URL pins git to the addresses that were checked (no DNS rebinding).
            commit = await blocking(app, ls_remote, repo, ref, timeout=LS_REMOTE_TIMEOUT)
    except RefNotFound as exc:
        raise ApiError(422, "ref_not_found", str(exc), field="ref") from None
    except SourceError as exc:
        raise ApiError(422, "repo_unreachable", str(exc), field="repo_url") from None
    record = plan_record(
        settings,
        new_deployment_id(),
        wanted.project,
        ref,
        SourceKind.GIT,
        repo_url=repo.url,
        commit=commit,
        build=build,
        production_branch=production_branch,
    )
    production = production_branch or settings.production_branch
    return await _record_and_enqueue(app, record, project, production)


async def _create_from_upload(request: web.Request) -> web.Response:
    app = request.app
    settings = app[SETTINGS]
    query = request.query
    repeated = {name for name in query if len(query.getall(name)) > 1}
    wanted = parse_upload_query(
        {name: query[name] for name in query},
        repeated,
        settings.production_branch,
        parse_build_header(request.headers.get(BUILD_HEADER)),
    )
    project = await read_project_or_503(app, wanted.project)
    ref, build, production_branch = _project_defaults(
        project, wanted.ref, bool(query.get("ref")), wanted.build
    )
    record = plan_record(
        settings,
        new_deployment_id(),
        wanted.project,
        ref,
        SourceKind.UPLOAD,
        build=build,
        production_branch=production_branch,
    ).replace(
        commit=wanted.commit,
        commit_message=wanted.commit_message,
        commit_author=wanted.commit_author,
    )
    key = source_key(record.id)
    store = app[STORE]
    try:
        async with scratch_dir(app) as scratch:
            archive = scratch / "source.tar.gz"
            await receive_upload(
                request, archive, settings.max_upload_bytes, settings.max_repo_bytes, app[EXECUTOR]
            )
            await blocking(app, check_archive, archive, scratch, settings.max_repo_bytes)
            try:
                await blocking(app, store.put_file, key, archive, "application/gzip")
            except StoreDiskError as exc:
                raise disk_fault(exc.target, exc.errno) from None
            except ObjectStoreError as exc:
                raise ApiError(
                    503, "storage_unavailable", f"could not store the upload: {exc}"
                ) from None
    except OSError as exc:
        # Receiving or checking the upload on the API's own disk (507 when it is full).
        if not is_disk_fault(exc):
            raise
        raise disk_fault(scratch_root(app), exc.errno) from None
    try:
        production = production_branch or settings.production_branch
        return await _record_and_enqueue(app, record, project, production)
    except Exception:
        await blocking(app, store.delete, key)
        raise


async def get_deployment(request: web.Request) -> web.Response:
    deployment_id = request.match_info["id"]
    if not is_deployment_id(deployment_id):
        raise ApiError(
            400,
            "invalid_id",
            f"{deployment_id[:40]!r} is not a deployment id ({ID_RULE})",
            field="id",
        )
    try:
        record = await blocking(request.app, request.app[STATE].find, deployment_id)
    except redis.RedisError as exc:
        raise redis_failure(exc) from None
    if record is None:
        raise await _not_found(request.app, deployment_id)
    answer = record.to_public_dict()
    if record.status is Status.QUEUED:
        try:
            last_tick = await blocking(request.app, request.app[STATE].last_queue_tick)
        except redis.RedisError as exc:
            raise redis_failure(exc) from None
        answer["waiting"] = queued_waiting(record, last_tick, time.time())
    return web.json_response(answer)


async def _not_found(app: web.Application, deployment_id: str) -> ApiError:
    """404, or 410 naming when `deploy-platform gc` removed it and where its history is."""
    try:
        raw = await blocking(app, app[STORE].get_bytes, archive_key(deployment_id))
    except ObjectNotFound:
        return ApiError(404, "deployment_not_found", f"no deployment {deployment_id}", field="id")
    except ObjectStoreError as exc:
        raise unavailable(exc) from None
    try:
        archived = json.loads(raw)
        project = str(archived["record"]["project"])
        removed_at = datetime.fromtimestamp(float(archived["removed_at"]), UTC)
    except (ValueError, KeyError, TypeError):
        project, removed_at = "its project", None
    when = f" on {removed_at:%Y-%m-%d %H:%M} UTC" if removed_at is not None else ""
    return ApiError(
        410,
        "deployment_removed",
        f"deployment {deployment_id} was removed by retention (deploy-platform gc){when}; "
        f"its history row stays: deploy-platform history --project {project}",
        field="id",
    )
