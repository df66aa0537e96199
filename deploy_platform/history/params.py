"""What a history query asks for, checked: filters, page size and cursor (no pandas,
no Dagster: the control API and the command check them before importing either).

A page's cursor names the last row it held (its `enqueued` time and id), so the
next page starts right after it however many deployments were added in between
(keyset paging, `query.select`).

`--since` / `since=` takes an ISO 8601 date or time (`2026-12-01`,
`2026-12-01T08:00:00Z`; no zone means UTC) or an age: a number and one of
m (minutes), h (hours), d (days), w (weeks), e.g. `90m`, `24h`, `7d`.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from deploy_platform.contracts.errors import InvalidRequest

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "HistoryQuery",
    "parse_since",
    "parse_limit",
    "check_branch",
    "encode_cursor",
    "decode_cursor",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_MAX_BRANCH = 255


@dataclass(frozen=True)
class HistoryQuery:
    project: str | None = None
    branch: str | None = None
    #: Unix seconds: only deployments enqueued at or after.
    since: float | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def parse_since(text: str, now: float | None = None) -> float:
    """`7d`, `24h`, `2026-12-01`, `2026-12-01T08:00:00Z` -> Unix seconds."""
    raw = text.strip()
    age = _AGE.match(raw.lower())
    if age:
        return (time.time() if now is None else now) - float(age[1]) * _UNIT_SECONDS[age[2]]
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"since {text[:40]!r} is neither an ISO 8601 date or time (2026-12-01, "
            "2026-12-01T08:00:00Z) nor an age such as 90m, 24h, 7d or 2w",
            field="since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_limit(text: str, maximum: int = MAX_LIMIT) -> int:
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise InvalidRequest(
            f"limit {text[:20]!r} must be a whole number from 1 to {maximum}", field="limit"
        )
    return limit


def check_branch(text: str) -> str:
    if not text or len(text) > _MAX_BRANCH or any(ord(c) < 32 or c == "\x7f" for c in text):
        raise InvalidRequest(
            f"branch must be a ref name of 1 to {_MAX_BRANCH} printable characters",
            field="branch",
        )
    return text


def encode_cursor(enqueued: float, deployment_id: str) -> str:
    raw = f"{enqueued!r}|{deployment_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        enqueued, _, deployment_id = (
            base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        )
        if not deployment_id:
            raise ValueError("no id")
        return float(enqueued), deployment_id
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidRequest(
            "cursor is not one this API gave out; pass the next_cursor of the previous "
            "page unchanged, or leave it out for the first page",
            field="cursor",
        ) from None
