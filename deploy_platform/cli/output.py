"""How the `deploy-platform` command shows deployment records to people.

Plain lines only (no cursor tricks), so the output reads the same in a
terminal, a CI log or a pipe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deploy_platform.contracts.text_format import human_bytes

__all__ = [
    "STAGES",
    "format_record",
    "format_urls",
    "format_transfer",
    "format_warnings",
    "stage_label",
    "stage_line",
    "progress_label",
    "progress_line",
    "progress_key",
    "waiting_line",
    "still_line",
]

STAGES = ("queued", "cloning", "building", "publishing", "ready", "failed")


def stage_label(stage: str, source: object) -> str:
    """The stage as people read it: an upload has nothing to clone, so its source stage
    (record status `cloning`, kept for compatibility) reads `unpacking`."""
    return "unpacking" if stage == "cloning" and source == "upload" else stage


def stage_line(stage: str, elapsed: float, note: str = "") -> str:
    return f"  [{elapsed:6.1f}s] {stage}{'  ' + note if note else ''}"


def progress_label(entry: Mapping[str, Any], source: object = None) -> str:
    """A milestone as one phrase: `building: npm ci (16.2 s)` (`source`: the record's,
    for `stage_label`)."""
    return f"{stage_label(str(entry.get('stage')), source)}: {entry.get('detail')}"


def progress_line(entry: Mapping[str, Any], elapsed: float) -> str:
    """A milestone as `deploy` prints it: `  [  19.1s] building: npm ci (16.2 s)`."""
    return stage_line(progress_label(entry), elapsed)


def progress_key(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """What makes a milestone new to print: a step's start and end are two lines."""
    return (str(entry.get("stage")), str(entry.get("step")), str(entry.get("detail")))


def waiting_line(record: Mapping[str, Any]) -> str | None:
    """What a queued deployment waits for (the API's `waiting`), if it says."""
    if record.get("status") != "queued":
        return None
    waiting = record.get("waiting")
    return str(waiting) if waiting else None


def still_line(record: Mapping[str, Any]) -> str:
    """The heartbeat: `still queued: <what it waits for>`, `still building: <its last
    milestone>` (a long `npm ci` says `running npm ci`), else `still <status>`."""
    status = str(record.get("status"))
    why = waiting_line(record)
    if why is None:
        latest = [e for e in record.get("progress") or () if isinstance(e, Mapping)][-1:]
        if latest and latest[0].get("stage") == status:
            why = str(latest[0].get("detail"))
    return f"still {stage_label(status, record.get('source'))}" + (f": {why}" if why else "")


def format_urls(urls: Mapping[str, str], indent: str = "  ") -> list[str]:
    width = max((len(name) for name in urls), default=0)
    return [f"{indent}{name.ljust(width)}  {url}" for name, url in urls.items()]


def format_transfer(record: Mapping[str, Any]) -> str | None:
    """'12 files, 34.5 KiB: 10 uploaded (30.0 KiB), 2 reused (4.5 KiB)' when known."""
    files, total = record.get("files"), record.get("bytes_total")
    if files is None:
        return None
    text = f"{files} file{'' if files == 1 else 's'}"
    if total is not None:
        text += f", {human_bytes(total)}"
    uploaded, reused = record.get("files_uploaded"), record.get("files_reused")
    if uploaded is not None or reused is not None:
        parts = []
        if uploaded is not None:
            up_bytes = record.get("bytes_uploaded")
            parts.append(
                f"{uploaded} uploaded"
                + (f" ({human_bytes(up_bytes)})" if up_bytes is not None else "")
            )
        if reused is not None:
            re_bytes = record.get("bytes_reused")
            parts.append(
                f"{reused} reused" + (f" ({human_bytes(re_bytes)})" if re_bytes is not None else "")
            )
        text += ": " + ", ".join(parts)
    return text


def format_warnings(record: Mapping[str, Any], indent: str = "  ") -> list[str]:
    """'2 warnings:' then one line each; nothing when the deployment has none."""
    warnings = [str(w) for w in record.get("warnings") or ()]
    if not warnings:
        return []
    head = f"{len(warnings)} warning{'' if len(warnings) == 1 else 's'} (the deployment is live):"
    return [head, *(f"{indent}{w}" for w in warnings)]


def _source(record: Mapping[str, Any]) -> str:
    ref = record.get("ref")
    if record.get("source") == "upload":
        return "uploaded directory" + (f" (as ref {ref})" if ref else "")
    text = f"git {record.get('repo_url')}"
    return text + (f" @ {ref}" if ref else "")


def retrying_line(record: Mapping[str, Any]) -> str | None:
    """What an unfinished deployment waits for after an infrastructure fault, if anything."""
    note = record.get("retrying")
    if not isinstance(note, Mapping):
        return None
    line = str(note.get("message") or f"waiting for {note.get('component', 'a platform part')}")
    failed, limit = note.get("runs_failed"), note.get("max_runs")
    if isinstance(failed, int) and isinstance(limit, int):
        line += f" ({failed} of {limit} runs failed so far)"
    if note.get("error"):
        line += f"; last error: {note['error']}"
    return line


def format_record(record: Mapping[str, Any], more: Sequence[tuple[str, str]] = ()) -> list[str]:
    """The record as aligned `label  value` lines for `deploy-platform status`; `more`
    rows (label, value) come last."""
    rows: list[tuple[str, str]] = []
    status = str(record.get("status"))
    rows.append(("status", stage_label(status, record.get("source"))))
    rows.append(("project", f"{record.get('project')} ({record.get('environment')})"))
    rows.append(("source", _source(record)))
    if record.get("commit"):
        rows.append(("commit", str(record["commit"])))
    if record.get("trigger"):
        rows.append(("trigger", str(record["trigger"])))
    if record.get("framework"):
        rows.append(("framework", str(record["framework"])))
    urls = record.get("urls") or {}
    if status == "failed":
        # Its own URL answers 404 and its aliases still serve what they served before.
        rows.append(("urls", "none: the deployment failed, so nothing of it is live"))
    else:
        for index, line in enumerate(format_urls(urls, indent="")):
            rows.append(("urls" if index == 0 else "", line))
    durations = record.get("durations") or {}
    if durations:
        source = record.get("source")
        stages = [
            f"{stage_label(name, source)} {seconds:.1f}s" for name, seconds in durations.items()
        ]
        rows.append(("stages", " · ".join(stages)))
    times = record.get("times") or {}
    if "queued" in times:
        rows.append(("queued at", str(times["queued"])))
    transfer = format_transfer(record)
    if transfer:
        rows.append(("files", transfer))
    retrying = retrying_line(record)
    if retrying:
        rows.append(("retrying", retrying))
    waiting = waiting_line(record)
    if waiting:
        rows.append(("waiting", waiting))
    progress = [e for e in record.get("progress") or () if isinstance(e, Mapping)]
    if progress and record.get("status") not in ("ready", "failed"):
        # While it runs, where it is; once settled, `history` has the timings.
        latest = progress[-1]
        rows.append(("progress", progress_label(latest)))
    for index, warning in enumerate(record.get("warnings") or ()):
        rows.append(("warnings" if index == 0 else "", str(warning)))
    if record.get("error"):
        rows.append(("error", str(record["error"])))
    rows.extend(more)
    width = max(len(label) for label, _ in rows)
    lines = [f"Deployment {record.get('id')}"]
    # A value of several lines (a failed build's error) keeps to its column.
    indent = "\n" + " " * (width + 4)
    for label, value in rows:
        lines.append(f"  {label.ljust(width)}  " + value.replace("\n", indent))
    return lines
