"""What a webhook's `Deploy` does: skip it, join the build of its commit, or queue one.

In this order (`deploy_platform.api.webhooks` calls `deploy` once the delivery is
claimed):

  1. the repository URL is checked again, with today's DP_GIT_ALLOW_HOSTS (a
     fork's URL is new to the platform): skipped, saying why, when refused;
  2. a build of the same commit of the same branch that another delivery queued
     (the push of a branch and its pull request's `synchronize`) is joined: this
     delivery's alias is added to it, and moved to it at once when it is ready
     (`deploy_platform.github.webhooks.builds`);
  3. a pull request's head commit message is read from the repository (the
     delivery has none, nor has a push without `head_commit`;
     `deploy_platform.source.git.commits`), and a skip marker skips it as it skips
     a push (`deploy_platform.github.webhooks.plan.skip_marker`).
     A repository that does not answer in time does not stop the deployment:
     the answer says the message could not be checked;
  4. the record is written together with the commit's claim (a delivery racing
     this one joins it, as in 2), queued, and its commit marked `pending`
     (`deploy_platform.api.deployments.enqueue_record`), with the project's
     build settings -- no `git ls-remote`: the delivery names the commit.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from aiohttp import web

from deploy_platform.api.deployments import enqueue_record, location, plan_record, redis_refusal
from deploy_platform.api.errors import unavailable
from deploy_platform.api.keys import ALIAS_INDEX, GIT_ALLOW, SETTINGS, STATE, STORE, blocking
from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import InvalidRequest, SourceError
from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.records import (
    DeploymentRecord,
    SourceKind,
    Status,
    commit_subject,
)
from deploy_platform.github.webhooks import Deploy, skip_marker, skipped_by_marker
from deploy_platform.github.webhooks.builds import claim_build, find_build, join_build
from deploy_platform.projects.model import Project, deployment_build
from deploy_platform.publish.alias_moves import MoveNote, MoveReason
from deploy_platform.source.git.commits import commit_message
from deploy_platform.source.repo_url import ValidatedRepoUrl, validate_repo_url
from deploy_platform.storage import ObjectStoreError

__all__ = ["COMMIT_MESSAGE_TIMEOUT", "deploy"]

log = logging.getLogger("deploy_platform.api.webhooks")

#: How long reading a pull request's head commit message may take: GitHub waits
#: 10 s for the answer to a delivery.
COMMIT_MESSAGE_TIMEOUT = 8.0


async def deploy(
    app: web.Application, delivery: str, project: Project, action: Deploy
) -> dict[str, Any]:
    """The delivery's result for `project` (see the module docstring)."""
    base = {"project": project.name, "reason": action.reason}
    try:
        repo = await blocking(app, validate_repo_url, action.repo_url, app[GIT_ALLOW])
    except InvalidRequest as exc:
        return {**base, "outcome": "skipped", "reason": f"{action.reason}, but {exc}"}
    record = plan_record(
        app[SETTINGS],
        new_deployment_id(),
        project.name,
        action.branch,
        SourceKind.GIT,
        repo_url=repo.url,
        commit=action.commit,
        build=deployment_build(project, BuildSettings()),
        production_branch=project.production_branch,
        preview_at=action.preview_at,
        trigger="webhook",
    )
    if action.status_repo_url is not None:
        record = record.replace(status_repo_url=action.status_repo_url)
    record = record.replace(
        commit_message=commit_subject(action.message), commit_author=commit_subject(action.author)
    )
    record = record.with_status(Status.QUEUED)
    try:
        existing = await blocking(
            app, find_build, app[STATE], project.name, action.commit, record.ref or action.branch
        )
    except redis.RedisError as exc:
        raise await redis_refusal(app, exc) from None
    if existing is not None:
        return await _join(app, delivery, action, record, existing, base)
    if action.read_message:
        checked, message = await _message_check(app, repo, action)
        if isinstance(checked, dict):
            return {**base, **checked}
        if checked:
            base["reason"] = f"{action.reason}; {checked}"
        if message is not None and record.commit_message is None:
            record = record.replace(commit_message=commit_subject(message))
    try:
        ttl = app[SETTINGS].webhook_delivery_ttl_seconds
        existing = await blocking(app, claim_build, app[STATE], record, ttl)
    except redis.RedisError as exc:
        raise await redis_refusal(app, exc) from None
    if existing is not None:
        return await _join(app, delivery, action, record, existing, base)
    record = await enqueue_record(app, record, stored=True)
    return {
        **base,
        "outcome": "queued",
        "id": record.id,
        "status_url": location(record.id),
        "environment": record.environment.value,
        "ref": record.ref,
        "commit": record.commit,
        "alias": record.aliases[0],
        "urls": record.urls,
    }


async def _message_check(
    app: web.Application, repo: ValidatedRepoUrl, action: Deploy
) -> tuple[dict[str, Any] | str, str | None]:
    """A skip's result when the head commit's message holds a marker; else a note for
    the reason ("" when the message was read). Then the message, when it was read (the
    deployments list shows its subject)."""
    try:
        message = await blocking(
            app,
            commit_message,
            repo,
            action.commit,
            branch=action.branch,
            max_bytes=app[SETTINGS].max_repo_bytes,
            timeout=COMMIT_MESSAGE_TIMEOUT,
        )
    except SourceError as exc:
        log.warning("the message of %s could not be read: %s", action.commit, exc)
        return f"its head commit's message could not be checked for a skip marker ({exc})", None
    marker = skip_marker(message)
    if marker is None:
        return "", message
    skip = skipped_by_marker(marker, f"{action.reason}: its head commit {action.commit[:12]}'s")
    return {"outcome": skip.outcome, "reason": skip.reason, "marker": marker}, message


def _url_name(action: Deploy, record: DeploymentRecord) -> str:
    if action.pull_request is not None:
        return "pull_request"
    return "production" if record.environment.value == "production" else "branch"


async def _join(
    app: web.Application,
    delivery: str,
    action: Deploy,
    record: DeploymentRecord,
    existing: DeploymentRecord,
    base: dict[str, Any],
) -> dict[str, Any]:
    """This delivery's alias added to `existing`, the build of the same commit."""
    alias = record.aliases[0]
    url = app[SETTINGS].public_url(alias)
    note = MoveNote(project=record.project, actor=f"webhook:{delivery}", reason=MoveReason.DEPLOY)
    try:
        joined = await blocking(
            app,
            join_build,
            app[STORE],
            app[STATE],
            existing.id,
            alias,
            (_url_name(action, record), url),
            app.get(ALIAS_INDEX),
            note=note,
        )
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    shown = joined.record
    what = f"commit {shown.commit and shown.commit[:12]} of {shown.ref!r} is already deployed"
    if joined.move is not None and joined.move.moved:
        then = f"{alias} shows it now"
    elif joined.move is not None:
        then = f"{alias} stays on {joined.move.current}: {joined.move.kept_because}"
    else:
        then = f"{alias} will show it when it is ready"
    return {
        **base,
        "outcome": "joined",
        "reason": f"{base['reason']}; {what} by {shown.id} ({shown.status.value}): {then}",
        "id": shown.id,
        "status_url": location(shown.id),
        "environment": shown.environment.value,
        "ref": shown.ref,
        "commit": shown.commit,
        "alias": alias,
        "urls": {
            name: address
            for name, address in shown.urls.items()
            if name == "deployment" or address == url
        },
    }
