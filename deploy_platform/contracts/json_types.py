"""How a JSON value's type is named in error messages ("got a number")."""

from __future__ import annotations

__all__ = ["json_type_name"]


def json_type_name(value: object) -> str:
    """`null`, `a boolean`, `a number`, `an array`, `an object`, `a string`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string" if isinstance(value, str) else type(value).__name__
