"""A deployment's build log: what its Dagster run captured on stdout and stderr.

The deploy job runs its steps in the run worker's own process (in-process
executor), and Dagster captures that process's stdout and stderr once for the whole
run: one `LOGS_CAPTURED` event names the capture (its `file_key`), and
`instance.compute_log_manager` reads it by byte offset, while the run still writes
(local files; S3 or another manager: what it has uploaded so far). These are the
texts of the stdout and stderr tabs of the run's page in the Dagster UI.

stdout holds the build step's log: what it found and did (framework, cache, each
`warning: `) and the build's own output (each command, `$ npm ci`, and what it
printed); stderr holds Dagster's log of the run (every step's messages, tracebacks).

The run of a deployment is the newest run tagged with its partition whose capture
ran one of its assets' steps (a run of the asset checks alone is not a build).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import dagster as dg

# Not exported by `dagster` itself, yet the type every compute log manager's reads take.
from dagster._core.storage.compute_log_manager import ComputeIOType

from deploy_platform.contracts.tags import PARTITION_TAG
from deploy_platform.history.collect import deployment_partition
from deploy_platform.history.facts import ASSETS

__all__ = ["Chunk", "RunLog", "STREAMS", "Stream", "find_run", "read_chunk", "read_tail"]

Stream = Literal["stdout", "stderr"]
STREAMS: tuple[Stream, ...] = ("stdout", "stderr")
_IO_TYPES = {"stdout": ComputeIOType.STDOUT, "stderr": ComputeIOType.STDERR}
_ENDED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
# Runs of one partition looked at to find its latest build (checks-only runs are skipped).
_RUNS_LOOKED_AT = 20


@dataclass(frozen=True)
class RunLog:
    """The run a deployment's log comes from, and where Dagster captured its output."""

    run_id: str
    status: str  # Dagster's run status: QUEUED, STARTED, SUCCESS, FAILURE...
    ended: bool
    log_keys: tuple[tuple[str, ...], ...]  # empty: the run has not started capturing yet


@dataclass(frozen=True)
class Chunk:
    text: str
    offset: int
    next_offset: int
    more: bool  # more bytes are there to read right now (the chunk hit its limit)


def find_run(instance: dg.DagsterInstance, deployment_id: str) -> RunLog | None:
    """The deployment's newest build run, or None when it has none (yet)."""
    records = instance.get_run_records(
        dg.RunsFilter(tags={PARTITION_TAG: deployment_id}), limit=_RUNS_LOOKED_AT
    )
    for record in records:
        run = record.dagster_run
        if deployment_partition(run) != deployment_id:
            continue
        keys = []
        builds = False
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.LOGS_CAPTURED):
            event = entry.dagster_event
            if event is None:
                continue
            captured = event.logs_captured_data
            builds = builds or any(step in ASSETS for step in captured.step_keys)
            keys.append(
                tuple(
                    instance.compute_log_manager.build_log_key_for_run(
                        run.run_id, captured.file_key
                    )
                )
            )
        # The steps a capture ran tell a build from a run of the asset checks alone
        # (both may carry an empty asset selection); a run not started yet tells nothing.
        if keys and not builds:
            continue
        return RunLog(run.run_id, run.status.value, run.status in _ENDED, tuple(keys))
    return None


def _read(
    instance: dg.DagsterInstance,
    keys: Sequence[tuple[str, ...]],
    stream: Stream,
    offset: int,
    limit: int | None,
) -> bytes:
    """Bytes from `offset` of the captures read as one text (in practice there is one:
    a run executed by another executor captures once per step, in order)."""
    manager = instance.compute_log_manager
    io_type = _IO_TYPES[stream]
    base = 0
    for index, key in enumerate(keys):
        if index == len(keys) - 1:
            start = max(offset - base, 0)
            data, _ = manager.get_log_data_for_type(list(key), io_type, start, limit)
            return data or b""
        whole, _ = manager.get_log_data_for_type(list(key), io_type, 0, None)
        whole = whole or b""
        if offset < base + len(whole):
            start = offset - base
            return whole[start : None if limit is None else start + limit]
        base += len(whole)
    return b""


def read_chunk(
    instance: dg.DagsterInstance, run: RunLog, stream: Stream, offset: int, limit: int
) -> Chunk:
    """Up to `limit` bytes from `offset`, ending at a line's end, so a line is never cut
    in two (nor a UTF-8 character) between chunks; what an ended run left unfinished
    on its last line is given as it is."""
    data = _read(instance, run.log_keys, stream, offset, limit + 1)
    more = len(data) > limit
    data = data[:limit]
    if run.ended and not more:
        pass  # the end of a log nothing writes to any more: its last line is whole
    elif b"\n" in data:
        data = data[: data.rfind(b"\n") + 1]
    elif more:
        # One line longer than the limit: given in pieces, cut at a character boundary
        # (unless it is no UTF-8 at all: then as it is, so the reader moves on).
        piece = data
        while piece and piece[-1] & 0xC0 == 0x80:
            piece = piece[:-1]
        if piece and piece[-1] >= 0xC0:
            piece = piece[:-1]
        data = piece or data
    else:
        data = b""  # the run is still writing this line: wait for its end
    return Chunk(data.decode("utf-8", "replace"), offset, offset + len(data), more)


def read_tail(instance: dg.DagsterInstance, run: RunLog, stream: Stream, lines: int) -> Chunk:
    """The last `lines` complete lines; `next_offset` is where following it goes on."""
    data = _read(instance, run.log_keys, stream, 0, None)
    end = len(data)
    if not run.ended:
        end = data.rfind(b"\n") + 1  # a line still being written is not complete yet
    body = data[:end]
    kept = body.splitlines(keepends=True)[-lines:] if lines > 0 else []
    text = b"".join(kept)
    return Chunk(text.decode("utf-8", "replace"), end - len(text), end, False)
