"""The history's pure parts: alias moves on rows, --since, and keyset paging with ties."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from deploy_platform.contracts.errors import InvalidRequest
from deploy_platform.history.query import HistoryQuery, parse_since, rows_frame, select
from deploy_platform.history.rows import apply_alias_moves


def row(deployment_id: str, enqueued: float, **values: Any) -> dict[str, Any]:
    return {"id": deployment_id, "enqueued": enqueued, "started": enqueued + 1, **values}


def test_a_rollback_after_the_latest_run_names_the_trigger_and_an_older_one_does_not() -> None:
    rows = {
        "aaaaaaaaaaaa": row("aaaaaaaaaaaa", 100.0, trigger="api"),
        "bbbbbbbbbbbb": row("bbbbbbbbbbbb", 300.0, trigger="webhook"),
        "cccccccccccc": row("cccccccccccc", 400.0, trigger="api"),
    }
    moves = [
        {"at": 200.0, "to": "aaaaaaaaaaaa", "reason": "rollback", "alias": "docs"},
        {"at": 250.0, "to": "aaaaaaaaaaaa", "reason": "promote", "alias": "docs"},
        {"at": 250.0, "to": "bbbbbbbbbbbb", "reason": "rollback"},  # before its run
        {"at": 900.0, "to": "cccccccccccc", "reason": "deploy"},  # the run's own move
        {"at": 900.0, "to": None, "reason": "branch-deleted"},
    ]

    apply_alias_moves(rows, moves)

    assert [rows[key]["trigger"] for key in sorted(rows)] == ["promote", "webhook", "api"]


def test_since_takes_ages_dates_and_times_and_refuses_anything_else() -> None:
    now = 1_800_000_000.0
    assert parse_since("7d", now) == now - 7 * 86400
    assert parse_since("90m", now) == now - 5400
    assert parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert (
        parse_since("2026-12-01T08:00:00+01:00", now)
        == datetime(2026, 12, 1, 7, tzinfo=UTC).timestamp()
    )
    with pytest.raises(InvalidRequest) as refused:
        parse_since("last week", now)
    assert refused.value.field == "since" and "7d" in str(refused.value)


def test_pages_with_equal_enqueue_times_neither_skip_nor_repeat_a_row() -> None:
    ids = [f"dep{n:09d}" for n in range(7)]
    frame = rows_frame([row(dep, 100.0 if n < 5 else 50.0) for n, dep in enumerate(ids)])

    seen: list[str] = []
    cursor = None
    while True:
        page = select(frame, HistoryQuery(limit=2, cursor=cursor))
        assert page.total == 7
        seen.extend(page.rows["id"])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == sorted(ids[:5], reverse=True) + sorted(ids[5:], reverse=True)
