"""The Cloudflare Worker's KV alias index as a Dagster resource (optional).

All fields empty (the default, and what `deploy-platform up` passes when no
DP_CF_* variable is set) means no index: `index()` returns None and the publisher
writes only the R2 pointer and Redis. Settings arrive through `dg.EnvVar`, so
the token is never shown in the UI; an unset variable fails the run as for every
other resource (see `deploy_platform.orchestration.resources.object_store`).
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from deploy_platform.orchestration.resources.env_values import resolved
from deploy_platform.publish.cloudflare_kv import CloudflareKV, KVAliasIndex, KVConfig
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["AliasIndexResource"]


class AliasIndexResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where alias moves are copied for the Worker: its KV namespace ALIASES, or nowhere."""

    api_url: str = ""
    account_id: str = ""
    namespace_id: str = ""
    api_token: str = ""

    def index(
        self, state: PlatformState, warn: Callable[[str], None] | None = None
    ) -> KVAliasIndex | None:
        """The publisher's hook, or None; raises KVConfigError (naming the setting) if half set."""
        config = KVConfig.from_values(
            resolved(self.api_url),
            resolved(self.account_id),
            resolved(self.namespace_id),
            resolved(self.api_token),
        )
        return None if config is None else KVAliasIndex(CloudflareKV(config), state, warn)
