"""Each GitHub delivery acts once per project, however often it arrives.

GitHub retries nothing by itself, but a person can press "Redeliver" (the
same `X-GitHub-Delivery` id, for deliveries of the last three days), and a
proxy may send a request twice. Before acting, the control API claims
`P webhook-delivery:<delivery>:<project>` with SET NX and a TTL
(DP_WEBHOOK_DELIVERY_TTL_SECONDS, a week by default: longer than GitHub's
redelivery window); whoever finds it set answers with what the first one did.
If acting fails (Redis or the store went away), the claim is released so a
redelivery can do the work.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from deploy_platform.github.webhooks.events import WebhookPayloadError
from deploy_platform.storage.redis_state import PlatformState

__all__ = ["DELIVERY_HEADER", "DEFAULT_TTL_SECONDS", "DeliveryLog", "check_delivery_id"]

DELIVERY_HEADER = "X-GitHub-Delivery"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
# GitHub's ids are GUIDs; anything plain and short is taken, to key Redis safely.
_DELIVERY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_IN_PROGRESS = {"outcome": "in_progress", "reason": "the first copy is still being handled"}


def check_delivery_id(value: str | None) -> str:
    """The header's delivery id; raises `WebhookPayloadError` (field X-GitHub-Delivery)."""
    if not value:
        raise WebhookPayloadError(
            "missing_header",
            f"the {DELIVERY_HEADER} header is missing; GitHub sends it with every delivery",
            field=DELIVERY_HEADER,
        )
    if not _DELIVERY_RE.match(value):
        raise WebhookPayloadError(
            "invalid_header",
            f"the {DELIVERY_HEADER} header {value[:60]!r} is not a delivery id "
            "(letters, digits, '.', '_' and '-', at most 128)",
            field=DELIVERY_HEADER,
        )
    return value


class DeliveryLog:
    """The claims of deliveries in Redis (see the module docstring)."""

    def __init__(self, state: PlatformState, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self.state = state
        self.ttl_seconds = ttl_seconds

    def _key(self, delivery: str, project: str) -> str:
        return self.state.key("webhook-delivery", delivery, project)

    def claim(self, delivery: str, project: str) -> dict[str, Any] | None:
        """None when this caller may act; else what the first copy did (or that it is acting)."""
        key = self._key(delivery, project)
        if self.state.redis.set(key, json.dumps(_IN_PROGRESS), nx=True, ex=self.ttl_seconds):
            return None
        raw = self.state.redis.get(key)
        if raw is None:  # expired in between: too old to count as the same delivery
            return self.claim(delivery, project)
        return cast(dict[str, Any], json.loads(raw))

    def record(self, delivery: str, project: str, outcome: dict[str, Any]) -> None:
        """Remember what the delivery did, for copies that arrive later."""
        self.state.redis.set(
            self._key(delivery, project), json.dumps(outcome), xx=True, ex=self.ttl_seconds
        )

    def release(self, delivery: str, project: str) -> None:
        """Forget the claim: acting failed, and a redelivery should try again."""
        self.state.redis.delete(self._key(delivery, project))
