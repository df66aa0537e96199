"""Redis as a Dagster resource: the queue, the deployment records and the alias index."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from deploy_platform.storage.redis_state import RUN_RETRIES, PlatformState

__all__ = ["RedisResource"]


class RedisResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Typed access to the platform's Redis keys (see `deploy_platform.storage.redis_state`).

    Runs and sensors get the long retry budget (`state.RUN_RETRIES`, ~15 s): a Redis
    restart is ridden out inside the call; a longer outage fails the run with
    `RedisUnavailable` and the deployment runs again (sensors/infra_retry.py).
    """

    url: str
    prefix: str = "dp:"
    # Must stay above the sensor's long-poll (XREAD BLOCK) or the read itself times out.
    timeout_seconds: float = 15.0

    _state: PlatformState | None = PrivateAttr(default=None)

    def state(self) -> PlatformState:
        if not self.url:
            raise ValueError(
                "DP_REDIS_URL is empty: set it to the platform's Redis, e.g. redis://127.0.0.1:6379/0"
            )
        if self._state is None:
            self._state = PlatformState.from_url(
                self.url, self.prefix, self.timeout_seconds, budget=RUN_RETRIES
            )
        return self._state

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._state is not None:
            self._state.redis.close()
            self._state = None
