"""Custom domains: a whole host (`www.example.com`) serving a project's production alias.

Where a mapping lives, as for aliases:
  `domains/<hostname>.json`  in the object store, the source of truth (its format:
                             `deploy_platform.contracts.domains`);
  `P domain:<hostname>`      the Redis index (`PlatformState.set_domain`), whose
                             `P domain-changed` message tells edge-origins to
                             drop their cached answer.
  KV DOMAINS[<hostname>]     the Cloudflare Worker's optional copy of the pointer
                             (`DomainIndexHook`: `deploy_platform.publish.cloudflare_kv`).
Adding writes the pointer first, then the index, then KV; removing deletes the
pointer first, KV last. The KV hook never raises: once the pointer is written,
its failures are its own business (warned and recorded), never the caller's.
Adding a domain that already serves the project, or removing one that is not
mapped, writes (or deletes) its KV key again, which repairs a failed one.
A domain follows the project's production alias (`names.production_alias`),
so a new production deployment or a rollback moves every domain with it, and
removing a domain never touches a deployment or an alias.

Hostnames are normalized (case, one trailing dot) by `names.normalize_hostname`.
Names under the platform's base domain are refused: `<label>.D` hosts already
mean deployments and aliases, and mapping one would hijack them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Protocol

from redis.lock import Lock

from deploy_platform.contracts.domains import (
    DOMAINS_PREFIX,
    Domain,
    InvalidDomainPointer,
    domain_key,
    parse_domain_pointer,
)
from deploy_platform.contracts.names import (
    InvalidHostname,
    normalize_hostname,
    validate_project_name,
)
from deploy_platform.storage import ObjectNotFound, ObjectStore
from deploy_platform.storage.redis_state import PlatformState

__all__ = [
    "DomainIndexHook",
    "DomainTaken",
    "ReservedHostname",
    "add_domain",
    "check_hostname",
    "list_domains",
    "read_domain",
    "remove_domain",
]

log = logging.getLogger(__name__)

_LOCK_SECONDS = 30


class ReservedHostname(InvalidHostname):
    """The hostname is the platform's own: the base domain or a name under it."""


class DomainTaken(Exception):
    """The hostname already serves another project; `project` names it."""

    def __init__(self, hostname: str, project: str) -> None:
        super().__init__(
            f"{hostname} already serves project {project}; remove it there first "
            f"(deploy-platform domains remove {hostname})"
        )
        self.hostname = hostname
        self.project = project


class DomainIndexHook(Protocol):
    """Told after a domain pointer was written or deleted (under its lock); must not raise."""

    def domain_changed(self, store: ObjectStore, hostname: str) -> bool: ...


def check_hostname(raw: object, base_domain: str) -> str:
    """The normalized hostname; raises `InvalidHostname` / `ReservedHostname` saying why."""
    hostname = normalize_hostname(raw)
    base = base_domain.lower().rstrip(".")
    if hostname == base or hostname.endswith("." + base):
        raise ReservedHostname(
            f"{hostname} is under the platform's base domain {base}, whose names are "
            "the platform's own (<deployment>, <project> and <branch>--<project>); "
            "map a domain of yours instead"
        )
    return hostname


def read_domain(store: ObjectStore, hostname: str) -> Domain | None:
    """The stored mapping of a normalized hostname, or None; raises `InvalidDomainPointer`."""
    try:
        raw = store.get_bytes(domain_key(hostname))
    except ObjectNotFound:
        return None
    return parse_domain_pointer(raw, hostname)


def add_domain(
    store: ObjectStore,
    state: PlatformState,
    raw_hostname: object,
    project: str,
    base_domain: str,
    index: DomainIndexHook | None = None,
) -> tuple[Domain, bool]:
    """Map the hostname to the project; (the mapping, whether it is new).

    Adding a hostname to the project it already serves changes nothing. Raises
    `InvalidHostname`, `ReservedHostname`, `InvalidName` (project) or `DomainTaken`.
    """
    hostname = check_hostname(raw_hostname, base_domain)
    validate_project_name(project)
    with _lock(state, hostname):
        try:
            existing = read_domain(store, hostname)
        except InvalidDomainPointer as exc:
            # It serves nothing now (the edge answers 500), so replacing it loses nothing.
            log.warning("replacing unreadable domain pointer: %s", exc)
            existing = None
        if existing is not None and existing.project != project:
            raise DomainTaken(hostname, existing.project)
        if existing is not None:
            state.set_domain(hostname, project)  # repairs an index that lost the key
            if index is not None:
                index.domain_changed(store, hostname)
            return existing, False
        domain = Domain(hostname, project, time.time())
        body = {"project": project, "created_at": domain.created_at}
        store.put_bytes(
            domain_key(hostname), json.dumps(body, sort_keys=True).encode(), "application/json"
        )
        state.set_domain(hostname, project)
        if index is not None:
            index.domain_changed(store, hostname)
        return domain, True


def remove_domain(
    store: ObjectStore,
    state: PlatformState,
    raw_hostname: object,
    base_domain: str,
    index: DomainIndexHook | None = None,
) -> Domain | None:
    """Unmap the hostname (pointer first, then the index); the removed mapping or None.

    Deployments and aliases stay as they are.
    """
    hostname = check_hostname(raw_hostname, base_domain)
    with _lock(state, hostname):
        try:
            existing = read_domain(store, hostname)
        except InvalidDomainPointer as exc:
            log.warning("removing unreadable domain pointer: %s", exc)
            existing = Domain(hostname, "", 0.0)
        if existing is None:
            state.delete_domain(hostname)  # a stale index entry must not keep serving
            if index is not None:
                index.domain_changed(store, hostname)
            return None
        store.delete(domain_key(hostname))
        state.delete_domain(hostname)
        if index is not None:
            index.domain_changed(store, hostname)
        return existing


def list_domains(store: ObjectStore, project: str | None = None) -> list[Domain]:
    """Every mapped domain (optionally one project's), sorted by hostname."""
    return [d for d in _stored_domains(store) if project is None or d.project == project]


def _stored_domains(store: ObjectStore) -> Iterator[Domain]:
    for info in store.list(DOMAINS_PREFIX):
        name = info.key[len(DOMAINS_PREFIX) :]
        if not name.endswith(".json"):
            continue
        hostname = name[: -len(".json")]
        try:
            domain = read_domain(store, hostname)
        except InvalidDomainPointer as exc:
            log.warning("skipping unreadable domain pointer: %s", exc)
            continue
        if domain is not None:  # removed while listing
            yield domain


def _lock(state: PlatformState, hostname: str) -> Lock:
    return state.redis.lock(
        state.key("domain-lock", hostname), timeout=_LOCK_SECONDS, blocking_timeout=_LOCK_SECONDS
    )
