"""A delivery id claimed once per project in (real, private) Redis."""

from __future__ import annotations

import pytest

from deploy_platform.github.webhooks import DeliveryLog, WebhookPayloadError, check_delivery_id
from deploy_platform.storage.redis_state import PlatformState

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_the_first_claim_acts_and_later_ones_learn_what_it_did(state: PlatformState) -> None:
    log = DeliveryLog(state, ttl_seconds=120)

    assert log.claim(DELIVERY, "docs") is None
    assert log.claim(DELIVERY, "docs") == {
        "outcome": "in_progress",
        "reason": "the first copy is still being handled",
    }
    log.record(DELIVERY, "docs", {"outcome": "queued", "id": "aaaaaaaaaaa2"})
    assert log.claim(DELIVERY, "docs") == {"outcome": "queued", "id": "aaaaaaaaaaa2"}
    assert 0 < state.redis.ttl(state.key("webhook-delivery", DELIVERY, "docs")) <= 120
    # Each project building the repository is its own claim.
    assert log.claim(DELIVERY, "blog") is None


def test_a_released_claim_lets_a_redelivery_act(state: PlatformState) -> None:
    log = DeliveryLog(state)
    assert log.claim(DELIVERY, "docs") is None

    log.release(DELIVERY, "docs")  # acting failed

    assert log.claim(DELIVERY, "docs") is None


@pytest.mark.parametrize(
    "value, code",
    [
        (None, "missing_header"),
        ("", "missing_header"),
        ("a b", "invalid_header"),
        ("x:y", "invalid_header"),
        ("-x", "invalid_header"),
        ("a" * 129, "invalid_header"),
    ],
)
def test_delivery_ids_that_cannot_be_githubs_are_refused(value: str | None, code: str) -> None:
    with pytest.raises(WebhookPayloadError) as caught:
        check_delivery_id(value)
    assert caught.value.code == code and caught.value.field == "X-GitHub-Delivery"


def test_githubs_delivery_ids_are_taken() -> None:
    assert check_delivery_id(DELIVERY) == DELIVERY
