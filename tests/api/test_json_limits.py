"""deploy_platform.contracts.json_limits: the nesting is measured without recursion, exactly for
JSON, brackets inside strings not counted, and in linear time for hostile text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deploy_platform.contracts.json_limits import (
    MAX_JSON_DEPTH,
    JsonTooDeep,
    json_depth,
    loads_bounded,
)


def nested(depth: int) -> Any:
    value: Any = "leaf [with {brackets"
    for level in range(depth):
        value = [value] if level % 2 else {'k\\"[': value, "n": [1, {"x": None}]}
    return value


def reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((reference_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((reference_depth(item) for item in value), default=0)
    return 0


@pytest.mark.parametrize("depth", [0, 1, 2, 5, 30, 61])
def test_the_depth_is_exact_and_strings_do_not_count(depth: int) -> None:
    value = nested(depth)
    text = json.dumps(value)
    assert json_depth(text.encode()) == reference_depth(value)
    assert loads_bounded(text) == value


def test_past_the_limit_is_refused_without_recursion() -> None:
    for text in (b"[" * 60_000, b"[" * 65 + b"]" * 65, b'{"a":' * 70 + b"1" + b"}" * 70):
        with pytest.raises(JsonTooDeep, match=f"deeper than {MAX_JSON_DEPTH} levels"):
            loads_bounded(text)
    assert loads_bounded(b"[" * 64 + b"]" * 64) is not None


def test_hostile_strings_are_measured_in_linear_time() -> None:
    # An unterminated string of escaped quotes: a naive string regex is quadratic here.
    text = b'["' + b'\\"[' * 400_000
    assert json_depth(text) >= 1
    with pytest.raises(JsonTooDeep):
        loads_bounded(text)
