"""Waiting for something another process or thread does: `eventually()` instead of sleep loops.

A check is retried until it returns a true value, which `eventually` returns. An
`AssertionError` it raises counts as "not yet" (so a check may assert, then `return True`)
unless `retry_on=()` says an assertion must fail at once; any other exception fails at
once, since retrying would only hide it. On timeout the failure names `message` (a
callable is asked then, to say what was still wrong, such as a log's tail), the last
value and the last assertion.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually", "eventually_async", "until"]

T = TypeVar("T")

Message = str | Callable[[], str]


def eventually(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    message: Message = "",
    retry_on: tuple[type[AssertionError], ...] = (AssertionError,),
) -> T:
    """Call `check` every `interval` seconds until it returns a true value (returned) or
    `timeout` seconds pass (AssertionError naming `message` and what the check last said)."""
    deadline = time.monotonic() + timeout
    while True:
        value, failure = _attempt(check, retry_on)
        if failure is None and value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(timeout, message, value, failure)
        time.sleep(interval)


def until(
    poll: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    message: Callable[[T], str],
) -> T:
    """`poll` every `interval` seconds until `done` says yes to its value, which is
    returned; on timeout `message(last value)` says what it still was. An assertion in
    `poll` fails at once: it reads, it does not decide."""
    last: list[T] = []

    def check() -> tuple[T] | None:  # a tuple: a false value can be the one awaited
        last[:] = [poll()]
        return (last[0],) if done(last[0]) else None

    [value] = eventually(
        check, timeout=timeout, interval=interval, message=lambda: message(last[0]), retry_on=()
    )
    return value


async def eventually_async(
    check: Callable[[], T | None | Awaitable[T | None]],
    *,
    timeout: float,
    interval: float = 0.01,
    message: Message = "",
    retry_on: tuple[type[AssertionError], ...] = (AssertionError,),
) -> T:
    """`eventually` for a test on the event loop: waits with `asyncio.sleep`, so the loop
    runs what the check waits for; `check` may be a plain function or a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        failure: AssertionError | None = None
        value: T | None = None
        try:
            answer = check()
            value = await answer if isinstance(answer, Awaitable) else answer
        except retry_on as error:
            failure = error
        if failure is None and value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(timeout, message, value, failure)
        await asyncio.sleep(interval)


def _attempt(
    check: Callable[[], T | None], retry_on: tuple[type[AssertionError], ...]
) -> tuple[T | None, AssertionError | None]:
    try:
        return check(), None
    except retry_on as error:
        return None, error


def _timed_out(
    timeout: float, message: Message, value: object, failure: AssertionError | None
) -> AssertionError:
    said = message() if callable(message) else message
    last = f"last assertion: {failure}" if failure is not None else f"last value: {value!r}"
    error = AssertionError(f"not within {timeout:g} s: {said} ({last})")
    error.__cause__ = failure
    return error
