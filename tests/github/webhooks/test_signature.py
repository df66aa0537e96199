"""`X-Hub-Signature-256` checks, with GitHub's published test vector."""

from __future__ import annotations

import pytest

from deploy_platform.github.webhooks import sign, signature_matches
from tests.support.webhooks import github_signature

# https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_published_test_vector_passes() -> None:
    assert sign(GITHUB_SECRET, GITHUB_PAYLOAD) == GITHUB_SIGNATURE
    assert signature_matches(GITHUB_SECRET, GITHUB_PAYLOAD, GITHUB_SIGNATURE)


def test_the_test_helper_signs_as_github_does() -> None:
    assert github_signature(GITHUB_SECRET, GITHUB_PAYLOAD) == GITHUB_SIGNATURE


@pytest.mark.parametrize("index", [0, 6, 12])
def test_one_changed_byte_fails(index: int) -> None:
    changed = bytearray(GITHUB_PAYLOAD)
    changed[index] ^= 0x01
    assert not signature_matches(GITHUB_SECRET, bytes(changed), GITHUB_SIGNATURE)


@pytest.mark.parametrize(
    "secret, header",
    [
        ("It's a Secret to Everybody!", GITHUB_SIGNATURE),  # another secret
        (GITHUB_SECRET, None),
        (GITHUB_SECRET, ""),
        (GITHUB_SECRET, GITHUB_SIGNATURE.upper()),
        (GITHUB_SECRET, GITHUB_SIGNATURE.removeprefix("sha256=")),
        (GITHUB_SECRET, "sha1=" + GITHUB_SIGNATURE.removeprefix("sha256=")),
        (GITHUB_SECRET, GITHUB_SIGNATURE[:-1]),
        (GITHUB_SECRET, GITHUB_SIGNATURE + "0"),
        (GITHUB_SECRET, GITHUB_SIGNATURE[:-1] + "f"),
        (GITHUB_SECRET, " " + GITHUB_SIGNATURE),
        ("", github_signature("", GITHUB_PAYLOAD)),  # a project without a secret
    ],
)
def test_anything_but_the_signature_fails(secret: str, header: str | None) -> None:
    assert not signature_matches(secret, GITHUB_PAYLOAD, header)
