"""Plain-text shapes shared by every report people read: byte counts and aligned tables.

The CLI, the retention report (also the Dagster job's log) and the history report
print with these, so a size or a table reads the same wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["human_bytes", "format_table"]


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
