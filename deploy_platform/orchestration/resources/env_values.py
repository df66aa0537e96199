"""A resource field's value, whether or not Dagster has resolved its `dg.EnvVar` yet."""

from __future__ import annotations

import dagster as dg

__all__ = ["resolved"]


def resolved(value: str) -> str:
    """The field's value; an unset variable reads as ""."""
    # Outside a run Dagster leaves EnvVar fields unresolved (their value is the name).
    if isinstance(value, dg.EnvVar):
        return value.get_value("") or ""
    return value
