"""GitHub webhooks: signatures, payloads, what a delivery does, and delivery dedup.

Dagster-free and without aiohttp: `signature` checks `X-Hub-Signature-256`,
`events` reads payloads, `plan` decides per project, `deliveries` makes a
delivery act once, `previews` takes a preview down. The endpoint is
`deploy_platform.api.webhooks`. Import from here.
"""

from deploy_platform.github.webhooks.deliveries import (
    DEFAULT_TTL_SECONDS,
    DELIVERY_HEADER,
    DeliveryLog,
    check_delivery_id,
)
from deploy_platform.github.webhooks.events import (
    Event,
    OtherEvent,
    Ping,
    PullRequest,
    Push,
    WebhookPayloadError,
    parse_event,
    parse_payload,
    repository_urls,
)
from deploy_platform.github.webhooks.plan import (
    SKIP_MARKERS,
    Action,
    Deploy,
    RemoveAlias,
    Skip,
    plan,
    skip_marker,
    skipped_by_marker,
)
from deploy_platform.github.webhooks.previews import TakenDown, take_down_preview
from deploy_platform.github.webhooks.signature import (
    SIGNATURE_HEADER,
    is_signature_shaped,
    sign,
    signature_matches,
)

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "SKIP_MARKERS",
    "Action",
    "Deploy",
    "DeliveryLog",
    "Event",
    "OtherEvent",
    "Ping",
    "PullRequest",
    "Push",
    "RemoveAlias",
    "Skip",
    "TakenDown",
    "WebhookPayloadError",
    "check_delivery_id",
    "is_signature_shaped",
    "parse_event",
    "parse_payload",
    "plan",
    "repository_urls",
    "sign",
    "signature_matches",
    "skip_marker",
    "skipped_by_marker",
    "take_down_preview",
]
