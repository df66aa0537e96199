"""JSON from strangers, read with a nesting limit: no RecursionError, ever.

`json.loads` recurses once per level of `[` / `{`; a body of 60,000 `[` makes it
raise `RecursionError` (a 500 where a 400 belongs), and near the interpreter's
limit it can take the process down. `loads_bounded` first measures the nesting
without recursing (strings stripped, then a running sum over the brackets, all in
C loops: ~0.4 s for 24 MB of `[{},{},...]`), and only parses what is at most
`MAX_JSON_DEPTH` deep.

Every JSON body the control API reads goes through here (deployments, projects,
domains, rollback and promote, the `X-Build-Settings` header, GitHub webhooks).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "JsonTooDeep", "json_depth", "loads_bounded"]

#: Far above what the platform's own documents need (a GitHub payload nests ~6
#: levels, build settings 3), far below the interpreter's recursion limit (1000).
MAX_JSON_DEPTH = 64

# A JSON string (the brackets inside one nest nothing), or an escape outside one:
# matching those too keeps an unterminated string full of `\"` linear, not quadratic.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"|\\.')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1


class JsonTooDeep(ValueError):
    """The document nests arrays and objects deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the JSON is nested deeper than {limit} levels")
        self.limit = limit


def json_depth(data: bytes) -> int:
    """How deep `data` nests arrays and objects (0 for a scalar), counted without recursion.

    Brackets inside strings are not counted. For text that is not JSON the answer
    is an upper bound of what a parser would recurse into, which is all that matters.
    """
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(0, max(accumulate(map(_STEP.__getitem__, brackets))))


def loads_bounded(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads`, refusing documents nested deeper than `max_depth` (`JsonTooDeep`).

    Raises what `json.loads` raises for text that is not JSON (`json.JSONDecodeError`,
    `UnicodeDecodeError` for bytes that are not UTF-8).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # Cheap first: a document with fewer brackets than the limit cannot nest past it.
    if raw.count(b"[") + raw.count(b"{") > max_depth and json_depth(raw) > max_depth:
        raise JsonTooDeep(max_depth)
    return json.loads(data)
