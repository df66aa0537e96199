"""Deployment ids: the Dagster partition key, the run_key and a host label.

An id is 12 characters of lowercase RFC 4648 base32 (`a-z`, `2-7`) with at least
one digit, so 60 bits of randomness that is DNS-label safe and unguessable. The
digit rule keeps ids apart from most project names (a project name that could be
an id is refused, see `names.validate_project_name`).
"""

from __future__ import annotations

import re
import secrets

__all__ = [
    "ID_LENGTH",
    "ID_RULE",
    "InvalidDeploymentId",
    "is_deployment_id",
    "new_deployment_id",
    "check_deployment_id",
]

ID_LENGTH = 12
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
#: Every rule an id follows, as messages state it.
ID_RULE = "12 characters of a-z and 2-7, with at least one digit"
_ID_RE = re.compile(r"^(?=[a-z2-7]*[2-7])[a-z2-7]{12}$")


class InvalidDeploymentId(ValueError):
    """A string that is not a deployment id was given where one was expected."""


def new_deployment_id() -> str:
    while True:
        candidate = "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))
        if _ID_RE.match(candidate):
            return candidate


def is_deployment_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def check_deployment_id(value: str) -> str:
    if not is_deployment_id(value):
        raise InvalidDeploymentId(f"{value!r} is not a deployment id ({ID_RULE})")
    return value
