"""Live progress: the milestones of a deployment's run, as the record's `progress` holds them.

A milestone is one line a person reads while they wait ("node 20.11.1 downloaded
(41.2 MiB in 43.0 s)", "npm ci (16.2 s)", "uploaded 120 of 340 bodies"), stored as
`{"at": unix time, "stage": "building", "step": "install", "detail": "npm ci (16.2 s)"}`.
`step` is a short machine name; a milestone of the same stage and step as the one
before it replaces it (a step's start becomes its end, an upload counter counts up),
so the list stays short and shows each step's latest state; `deploy` prints each
new line once, as it polls (`deploy_platform.cli.deploy`).

The list is bounded (`MAX_PROGRESS` entries of at most `MAX_DETAIL` characters, the
oldest dropped first): it is rewritten in Redis with the whole record on every
milestone, and a build must not be able to grow the record without end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "MAX_PROGRESS",
    "MAX_DETAIL",
    "PROGRESS_STAGES",
    "Progress",
    "no_progress",
    "milestone",
    "with_milestone",
    "before_stage",
    "clean_progress",
    "Counter",
]

MAX_PROGRESS = 40
MAX_DETAIL = 200
#: The stages that report milestones, in the order a run goes through them.
PROGRESS_STAGES = ("cloning", "building", "publishing")

#: What the build and publish code call at each milestone: `progress(step, detail)`.
#: The stage is the caller's (the asset that passes it knows which stage runs).
Progress = Callable[[str, str], object]


def no_progress(step: str, detail: str) -> None:
    """The `Progress` of a caller that does not listen (tests, tools)."""


def milestone(stage: str, step: str, detail: str, at: float | None = None) -> dict[str, Any]:
    """One entry, its text cut to `MAX_DETAIL` characters and to its first line."""
    line = " ".join(str(detail).split())
    if len(line) > MAX_DETAIL:
        line = line[: MAX_DETAIL - 1] + "…"
    return {
        "at": time.time() if at is None else at,
        "stage": str(stage)[:20],
        "step": str(step)[:40],
        "detail": line,
    }


def with_milestone(
    progress: Iterable[dict[str, Any]], entry: dict[str, Any]
) -> tuple[dict[str, Any], ...]:
    """`progress` with `entry` added (replacing the last entry of the same stage and step)."""
    entries = list(progress)
    if entries and (entries[-1].get("stage"), entries[-1].get("step")) == (
        entry["stage"],
        entry["step"],
    ):
        entries[-1] = entry
    else:
        entries.append(entry)
    return tuple(entries[-MAX_PROGRESS:])


def before_stage(progress: Iterable[dict[str, Any]], stage: str) -> tuple[dict[str, Any], ...]:
    """The entries of the stages before `stage`: what stays when `stage` runs (again)."""
    if stage not in PROGRESS_STAGES:
        return tuple(progress)
    earlier = set(PROGRESS_STAGES[: PROGRESS_STAGES.index(stage)])
    return tuple(e for e in progress if e.get("stage") in earlier)


def clean_progress(raw: object) -> tuple[dict[str, Any], ...]:
    """The stored list as entries of the documented shape; anything else is dropped."""
    if not isinstance(raw, list | tuple):
        return ()
    entries: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("at"), int | float):
            continue
        entries.append(
            milestone(
                str(item.get("stage", "")),
                str(item.get("step", "")),
                str(item.get("detail", "")),
                float(item["at"]),
            )
        )
    return tuple(entries[-MAX_PROGRESS:])


class Counter:
    """Counts finished items of a long step (uploads) from any thread and reports
    `text(done, total)` at most once per `every` seconds, and always the last count:
    a person sees the step move without a Redis write per item."""

    def __init__(
        self,
        progress: Progress,
        step: str,
        total: int,
        text: Callable[[int, int], str],
        every: float = 1.0,
    ) -> None:
        self._progress, self._step, self._total, self._text = progress, step, total, text
        self._every = every
        self._done = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def add(self, count: int = 1) -> None:
        with self._lock:
            self._done += count
            now = time.monotonic()
            if self._done < self._total and now - self._last < self._every:
                return
            self._last = now
            done = self._done
        self._progress(self._step, self._text(done, self._total))
