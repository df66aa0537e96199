"""Filters and pages over the history frame (pandas, no Dagster).

Rows are ordered newest first (by `enqueued`, then id); `select` keeps the rows a
`HistoryQuery` (`params.py`) asks for and cuts its page after the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from deploy_platform.history.params import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    HistoryQuery,
    check_branch,
    decode_cursor,
    encode_cursor,
    parse_limit,
    parse_since,
)
from deploy_platform.history.rows import COLUMNS

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "HistoryQuery",
    "Page",
    "check_branch",
    "parse_since",
    "parse_limit",
    "encode_cursor",
    "decode_cursor",
    "rows_frame",
    "select",
]


@dataclass(frozen=True)
class Page:
    rows: pd.DataFrame
    #: How many rows match the filters, over all pages.
    total: int
    next_cursor: str | None


def rows_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The rows as a frame in COLUMNS order, newest first (the order pages follow)."""
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    if frame.empty:
        return frame
    frame["enqueued"] = pd.to_numeric(frame["enqueued"], errors="coerce").fillna(0.0)
    return frame.sort_values(["enqueued", "id"], ascending=False, kind="stable").reset_index(
        drop=True
    )


def select(frame: pd.DataFrame, query: HistoryQuery) -> Page:
    """The page of `frame` (ordered as `rows_frame` orders it) that `query` asks for."""
    mask = pd.Series(True, index=frame.index)
    if query.project is not None:
        mask &= frame["project"] == query.project
    if query.branch is not None:
        mask &= frame["branch"] == query.branch
    if query.since is not None:
        mask &= frame["enqueued"] >= query.since
    matching = frame[mask]
    total = len(matching)
    if query.cursor is not None:
        enqueued, deployment_id = decode_cursor(query.cursor)
        after = (matching["enqueued"] < enqueued) | (
            (matching["enqueued"] == enqueued) & (matching["id"] < deployment_id)
        )
        matching = matching[after]
    page = matching.head(query.limit)
    next_cursor = None
    if len(matching) > query.limit:
        last = page.iloc[-1]
        next_cursor = encode_cursor(float(last["enqueued"]), str(last["id"]))
    return Page(rows=page, total=total, next_cursor=next_cursor)
