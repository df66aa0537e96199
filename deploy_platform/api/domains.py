"""Custom domains: `POST /api/domains`, `GET /api/domains`, `DELETE /api/domains/{hostname}`.

  POST   /api/domains  {"hostname": "www.example.com", "project": "docs"}
                       201 new mapping, 200 when it already serves that project;
                       400 invalid_hostname / reserved_hostname / invalid_project,
                       409 domain_taken (the message names the project it serves)
  GET    /api/domains[?project=docs]   {"domains": [{"hostname", "project", "created_at"}]}
  DELETE /api/domains/{hostname}       200 the removed mapping; 404 domain_not_found

Hostnames are normalized (`WWW.Example.com.` is `www.example.com`) before
anything else. The mapping itself is `deploy_platform.projects.domains`: the object store
first, then the Redis index, then (when DP_CF_KV_DOMAINS_NAMESPACE_ID is set)
the Worker's KV namespace DOMAINS, whose failures are warned about and recorded
in Redis, never answered as errors. Removing a domain never touches a deployment.
"""

from __future__ import annotations

import redis
from aiohttp import web

from deploy_platform.api.errors import ApiError, unavailable
from deploy_platform.api.keys import DOMAIN_INDEX, SETTINGS, STATE, STORE, blocking
from deploy_platform.api.validation import check_project, parse_json_object
from deploy_platform.contracts.names import InvalidHostname
from deploy_platform.projects.domains import (
    DomainTaken,
    ReservedHostname,
    add_domain,
    check_hostname,
    list_domains,
    remove_domain,
)
from deploy_platform.storage import ObjectStoreError

__all__ = ["create_domain", "get_domains", "delete_domain"]

_FIELDS = ("hostname", "project")


def _hostname(raw: object, base_domain: str) -> str:
    try:
        return check_hostname(raw, base_domain)
    except ReservedHostname as exc:
        raise ApiError(400, "reserved_hostname", str(exc), field="hostname") from None
    except InvalidHostname as exc:
        raise ApiError(400, "invalid_hostname", str(exc), field="hostname") from None


async def create_domain(request: web.Request) -> web.Response:
    app = request.app
    data = parse_json_object(await request.read())
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ApiError(
            400,
            "unknown_field",
            f"unknown field {unknown[0]!r}; allowed: {', '.join(_FIELDS)}",
            field=unknown[0],
        )
    for name in _FIELDS:
        if name not in data:
            raise ApiError(400, "missing_field", f"missing field {name!r}", field=name)
        if not isinstance(data[name], str):
            raise ApiError(400, "invalid_type", f"{name} must be a string", field=name)
    hostname = _hostname(data["hostname"], app[SETTINGS].base_domain)
    project = check_project(data["project"])
    try:
        domain, created = await blocking(
            app,
            add_domain,
            app[STORE],
            app[STATE],
            hostname,
            project,
            app[SETTINGS].base_domain,
            app.get(DOMAIN_INDEX),
        )
    except DomainTaken as exc:
        raise ApiError(409, "domain_taken", str(exc), field="hostname") from None
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    return web.json_response(domain.to_dict(), status=201 if created else 200)


async def get_domains(request: web.Request) -> web.Response:
    app = request.app
    project = request.query.get("project")
    if project is not None:
        project = check_project(project)
    try:
        domains = await blocking(app, list_domains, app[STORE], project)
    except ObjectStoreError as exc:
        raise unavailable(exc) from None
    return web.json_response({"domains": [domain.to_dict() for domain in domains]})


async def delete_domain(request: web.Request) -> web.Response:
    app = request.app
    base_domain = app[SETTINGS].base_domain
    hostname = _hostname(request.match_info["hostname"], base_domain)
    try:
        removed = await blocking(
            app,
            remove_domain,
            app[STORE],
            app[STATE],
            hostname,
            base_domain,
            app.get(DOMAIN_INDEX),
        )
    except (redis.RedisError, ObjectStoreError) as exc:
        raise unavailable(exc) from None
    if removed is None:
        raise ApiError(
            404, "domain_not_found", f"{hostname} is not mapped to any project", field="hostname"
        )
    return web.json_response({**removed.to_dict(), "removed": True})
