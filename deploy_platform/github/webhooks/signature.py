"""GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.

The HMAC is over the raw body bytes exactly as received, keyed with the
webhook's secret (https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries).
The older `X-Hub-Signature` (SHA-1) is not accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["SIGNATURE_HEADER", "is_signature_shaped", "sign", "signature_matches"]

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_SHAPE = re.compile(r"^sha256=[0-9a-f]{64}$")


def sign(secret: str, body: bytes) -> str:
    """The header value GitHub sends for `body` signed with `secret`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def is_signature_shaped(header: str | None) -> bool:
    """Whether the header could be a signature at all (`sha256=` and 64 hex digits)."""
    return header is not None and _SHAPE.match(header) is not None


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body` with `secret`.

    SECURITY: compared in constant time, so a forger cannot learn the right
    signature byte by byte from response times. An empty secret never matches.
    """
    if not secret or not is_signature_shaped(header):
        return False
    assert header is not None
    return hmac.compare_digest(sign(secret, body).encode(), header.encode())
