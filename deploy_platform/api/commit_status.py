"""The control API's part of commit statuses: `pending` once a deployment is queued.

The status is written to Redis before the 202 answer, right after the id is
queued, and posted to GitHub in the background on the API's thread pool: a
slow or unreachable GitHub never delays the answer nor fails the deployment,
and a post that fails is retried by the Dagster `commit_status_sensor`. Because
the write comes first and a `pending` never replaces a later status, a fast
pipeline's `success` is never overtaken (see `deploy_platform.github.statuses`).
On shutdown the posts still running are awaited; each is bounded by its timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from deploy_platform.api.keys import SETTINGS, STATE, blocking
from deploy_platform.contracts.records import DeploymentRecord
from deploy_platform.github.statuses import CommitStatusReporter, say_disabled_once

__all__ = ["StatusPoster", "STATUS_POSTER", "status_poster_ctx", "report_queued"]

log = logging.getLogger("deploy_platform.api.commit_status")


@dataclass
class StatusPoster:
    """The reporter (None: statuses off) and the background posts in flight."""

    reporter: CommitStatusReporter | None
    tasks: set[asyncio.Task[str]] = field(default_factory=set)


STATUS_POSTER = web.AppKey("status_poster", StatusPoster)


async def status_poster_ctx(app: web.Application) -> AsyncIterator[None]:
    """After Redis (it writes there); `create_app` has already checked the settings."""
    config = app[SETTINGS].github_config()
    if config is None:
        say_disabled_once(log.info)
        reporter = None
    else:
        reporter = CommitStatusReporter(config, app[STATE], log.warning)
        log.info("commit statuses: %s, context %s/<project>", config.api_url, config.context)
    poster = StatusPoster(reporter)
    app[STATUS_POSTER] = poster
    yield
    if poster.tasks:
        await asyncio.gather(*poster.tasks, return_exceptions=True)


async def report_queued(app: web.Application, record: DeploymentRecord) -> None:
    """Write `pending` for a just-queued deployment and post it in the background."""
    poster = app[STATUS_POSTER]
    reporter = poster.reporter
    if reporter is None or not reporter.covers(record):
        return
    outcome = await blocking(app, reporter.queued, record, post=False)
    log.info("%s", outcome)
    task = asyncio.create_task(blocking(app, reporter.deliver, record.id))
    poster.tasks.add(task)
    task.add_done_callback(_finished(poster))


def _finished(poster: StatusPoster) -> Callable[[asyncio.Task[str]], None]:
    def done(task: asyncio.Task[str]) -> None:
        poster.tasks.discard(task)
        if not task.cancelled() and task.exception() is None:
            log.info("%s", task.result())

    return done
