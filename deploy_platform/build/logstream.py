"""A build's raw output bytes in, clean log lines out: redacted, cut, capped.

The output of a build arrives in pipe chunks that split lines (and secrets)
anywhere. `LogStream` joins chunks into lines first and only then redacts, so a
secret that straddles two chunks is still caught. Per line it strips terminal
escape codes (a Dagster log is not a terminal), keeps what a carriage-return
progress bar finally showed, replaces every configured secret with `***` and
cuts lines longer than `max_line_bytes`. In total it forwards at most
`log_bytes` to `on_line`; past that it says so once and only keeps the last
lines for the tail, because a runaway log must not block or kill the build.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable

__all__ = ["LogStream", "REDACTED", "secret_pattern"]

REDACTED = "***"

# CSI sequences (colours, cursor moves) and OSC sequences (titles, links).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def _secret_values(secrets: Iterable[str]) -> list[str]:
    # A multi-line value cannot appear whole inside one log line, so each of its
    # lines counts as a secret of its own. Longest first: a value containing
    # another is replaced whole.
    values: set[str] = set()
    for secret in secrets:
        for part in [secret, *secret.splitlines()]:
            if part.strip():
                values.add(part)
    return sorted(values, key=len, reverse=True)


def secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any secret value (None when there is nothing to hide)."""
    values = _secret_values(secrets)
    if not values:
        return None
    return re.compile("|".join(re.escape(v) for v in values))


class LogStream:
    """Feeds raw bytes, calls `on_line` for each finished line; see the module docstring."""

    def __init__(
        self,
        on_line: Callable[[str], object],
        secrets: Iterable[str] = (),
        *,
        max_line_bytes: int = 4096,
        log_bytes: int = 8 * 1024 * 1024,
        tail_lines: int = 50,
    ) -> None:
        self._on_line = on_line
        values = _secret_values(secrets)
        self._pattern = secret_pattern(values)
        longest = max((len(v.encode()) for v in values), default=0)
        self._max_line = max_line_bytes
        # A line is kept long enough that a secret starting before the cut is still
        # whole when redacted, and escape codes removed later do not eat the budget.
        self._keep = 2 * max_line_bytes + longest
        self._log_bytes = log_bytes
        self._sent = 0
        self._partial = bytearray()
        self._partial_cut = False
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self.truncated = False

    @property
    def tail(self) -> str:
        """The last lines seen (redacted), including those past the cap."""
        return "\n".join(self._tail)

    def feed(self, chunk: bytes) -> None:
        """Add raw output; every line finished by this chunk is emitted."""
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            if newline < 0:
                self._buffer(chunk[start:])
                return
            self._buffer(chunk[start:newline])
            self._finish_line()
            start = newline + 1

    def close(self) -> None:
        """Emit what is left of an unfinished last line."""
        if self._partial or self._partial_cut:
            self._finish_line()

    def note(self, text: str) -> None:
        """A line from the platform itself (timeouts, limits): always shown, never capped."""
        self._tail.append(text)
        self._on_line(text)

    def _buffer(self, data: bytes) -> None:
        room = self._keep - len(self._partial)
        if len(data) > room:
            self._partial_cut = True
            data = data[: max(room, 0)]
        self._partial += data

    def _finish_line(self) -> None:
        raw = bytes(self._partial)
        cut = self._partial_cut
        self._partial.clear()
        self._partial_cut = False
        line = self._clean(raw.decode("utf-8", errors="replace"))
        encoded = line.encode()
        if len(encoded) > self._max_line or cut:
            line = encoded[: self._max_line].decode("utf-8", errors="ignore") + " [line cut]"
        self._tail.append(line)
        size = len(line.encode()) + 1
        if self.truncated:
            return
        if self._sent + size > self._log_bytes:
            self.truncated = True
            self._on_line(
                f"[log truncated after {self._sent} bytes: the build goes on, "
                "its last lines are kept for the summary]"
            )
            return
        self._sent += size
        self._on_line(line)

    def _clean(self, text: str) -> str:
        text = text.rstrip("\r")
        if "\r" in text:
            # A progress bar redraws with \r: keep what it finally showed.
            parts = [part for part in text.split("\r") if part]
            text = parts[-1] if parts else ""
        text = _ANSI.sub("", text)
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        return text
