"""GitHub commit statuses as a Dagster resource (optional: off without a token).

The assets and sensors post through this resource, never through globals: it
hands out a `CommitStatusReporter` (deploy_platform.github.statuses) bound to the
platform's Redis and the run's log, or None when DP_GITHUB_TOKEN is empty
(said once per process). Settings arrive through `dg.EnvVar`, so the token is
never shown in the UI. Like the Cloudflare KV index (`alias_index.py`), nothing
here may fail a deployment: a bad DP_GITHUB_API_URL or DP_GITHUB_STATUS_CONTEXT
is logged as an error and statuses stay off (`deploy-platform up` and the
control API refuse to start with one, so it is seen there first).
"""

from __future__ import annotations

import logging
from typing import Protocol

import dagster as dg
from pydantic import Field

from deploy_platform.github.status_api import GitHubConfig, GitHubConfigError
from deploy_platform.github.statuses import BACKOFF_SECONDS, CommitStatusReporter, say_disabled_once
from deploy_platform.orchestration.resources.env_values import resolved
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["CommitStatusResource"]


class _Log(Protocol):
    """What both `context.log` and a `logging.Logger` offer."""

    def info(self, msg: str) -> object: ...
    def warning(self, msg: str) -> object: ...
    def error(self, msg: str) -> object: ...


class CommitStatusResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where deployments report pending/success/failure: GitHub's commit status API, or nowhere."""

    api_url: str = ""
    token: str = ""
    context: str = ""
    timeout_seconds: float = 10.0
    retry_backoff_seconds: list[float] = Field(default_factory=lambda: list(BACKOFF_SECONDS))

    def reporter(
        self, state: PlatformState, log: _Log | None = None
    ) -> CommitStatusReporter | None:
        """The reporter for this run or tick (warning through `log`), or None; never raises."""
        log = log or logging.getLogger(__name__)
        try:
            config = GitHubConfig.from_values(
                resolved(self.api_url),
                resolved(self.token),
                resolved(self.context),
                self.timeout_seconds,
            )
        except GitHubConfigError as exc:
            log.error(f"commit statuses are off: {exc}")
            return None
        if config is None:
            say_disabled_once(log.info)
            return None
        return CommitStatusReporter(config, state, log.warning, backoff=self.retry_backoff_seconds)
