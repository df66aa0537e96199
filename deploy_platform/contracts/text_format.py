"""Plain-text shapes shared by every report people read: byte counts and aligned tables.

The CLI, the retention report (also the Dagster job's log) and the history report
print with these, so a size or a table reads the same wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["human_bytes", "format_table", "error_headline", "cut_at_line"]


def human_bytes(count: int, bytes_unit: str = "B") -> str:
    """`count` in B (or `bytes_unit`), KiB, MiB or GiB, one decimal above bytes."""
    size = float(count)
    for unit in (bytes_unit, "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == bytes_unit else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart; the last column is not padded."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


# How a build failure's message introduces the build's last lines (build/runner.py).
_TAIL_INTRO = "Last lines:"


def error_headline(error: str, width: int | None = None) -> str:
    """A failure message's first line, without the build output it goes on with; cut to
    `width` characters with an ellipsis when longer (a table cell)."""
    lines = error.strip().splitlines()
    head = lines[0].strip() if lines else ""
    if head.endswith(_TAIL_INTRO):
        head = head[: -len(_TAIL_INTRO)].rstrip()
    if width is not None and len(head) > width:
        head = head[: max(width - 1, 0)].rstrip() + "\u2026"
    return head


def cut_at_line(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut after its last whole line that fits (a
    first line alone longer than the limit is cut and ends with an ellipsis)."""
    if len(text) <= limit:
        return text
    end = text.rfind("\n", 0, limit + 1)
    if end > 0:
        return text[:end]
    return text[: max(limit - 1, 0)] + "\u2026"
