"""Custom domain pointers: where `domains/<hostname>.json` lives and what it holds.

  `domains/<hostname>.json`  {"project": "docs", "created_at": 1700000000.0}

in the object store, the source of truth for which project a whole host serves
(dagster-free: the edge-origin reads it; `deploy_platform.projects.domains` writes it).
Hostnames are normalized (case, one trailing dot) by `names.normalize_hostname`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from deploy_platform.contracts.names import InvalidName, validate_project_name

__all__ = [
    "DOMAINS_PREFIX",
    "Domain",
    "InvalidDomainPointer",
    "domain_key",
    "parse_domain_pointer",
]

DOMAINS_PREFIX = "domains/"


class InvalidDomainPointer(ValueError):
    """A stored `domains/<hostname>.json` cannot be read."""


@dataclass(frozen=True)
class Domain:
    hostname: str
    project: str
    created_at: float

    def to_dict(self) -> dict[str, object]:
        return {"hostname": self.hostname, "project": self.project, "created_at": self.created_at}


def domain_key(hostname: str) -> str:
    return f"{DOMAINS_PREFIX}{hostname}.json"


def parse_domain_pointer(raw: bytes, hostname: str) -> Domain:
    """The pointer's contents; raises `InvalidDomainPointer`."""
    where = domain_key(hostname)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidDomainPointer(f"{where} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidDomainPointer(f"{where} is not a JSON object")
    try:
        project = validate_project_name(data.get("project"))
    except InvalidName as exc:
        raise InvalidDomainPointer(f"{where} names no valid project: {exc}") from None
    created_at = data.get("created_at")
    if not isinstance(created_at, int | float) or isinstance(created_at, bool):
        created_at = 0.0
    return Domain(hostname, project, float(created_at))
