"""The request pipeline, one step per module, in the order they run.

  1. method       GET and HEAD only, else 405 with Allow
  2. host         Host header -> deployment id or alias name, else 404   (hosts)
  3. path         decode and check the path, else 400                    (paths)
  4. lookup       alias -> deployment -> manifest, else 404              (lookup)
  5. resolve      path -> file, index.html, redirect, or the 404 page    (paths)
     rules        the deployment's redirects, rewrites, header rules     (rules)
  6. represent    Range/If-Range -> identity bytes, else Accept-Encoding
                  picks identity or a precompressed variant      (ranges, encodings)
  7. conditional  If-None-Match -> 304; a range past the end -> 416      (headers)
  8. body         small bodies from memory, large ones streamed; 206     (bodies)

A later step never runs for a request an earlier one refused, so a malformed
host or path costs no Redis or store call. Failures on the platform's side map
to the platform's 500/503 page and a log line that says what broke.
"""

from __future__ import annotations

import logging

from aiohttp import web

from deploy_platform.storage import ObjectNotFound, ObjectStoreError
from serve.appkeys import BODIES, CONFIG, LOOKUP
from serve.bodies import BodyMismatch
from serve.encodings import choose
from serve.headers import etag_for, if_none_match_matches
from serve.hosts import site_for_host
from serve.lookup import BrokenSite
from serve.paths import BadPath, Outcome, not_found_page, parse_path
from serve.ranges import Unsatisfiable, requested_range
from serve.responses import (
    ALLOWED_METHODS,
    StreamAborted,
    file_response,
    not_modified_response,
    page_response,
    range_not_satisfiable_response,
    redirect_response,
)
from serve.rules import RuleAction, apply_rules, rule_headers

__all__ = ["handle"]

log = logging.getLogger(__name__)


async def handle(request: web.Request) -> web.StreamResponse:
    """Serve one request to a deployment; every refusal is a platform page."""
    try:
        return await _pipeline(request)
    except StreamAborted:
        raise  # headers are out; aiohttp cuts the connection
    except BadPath as exc:
        log.debug("400 for %r: %s", request.raw_path, exc)
        return page_response(400)
    except (BrokenSite, BodyMismatch) as exc:
        log.error("cannot serve %s%s: %s", request.host, request.raw_path, exc)
        return page_response(500)
    except ObjectNotFound as exc:
        log.error("cannot serve %s%s: blob %s is missing", request.host, request.raw_path, exc)
        return page_response(500)
    except ObjectStoreError as exc:
        log.warning("object store failed for %s%s: %s", request.host, request.raw_path, exc)
        return page_response(503)


async def _pipeline(request: web.Request) -> web.StreamResponse:
    app = request.app
    # 1. method
    if request.method not in ALLOWED_METHODS:
        return page_response(405)

    # 2. host
    site = site_for_host(request.host, app[CONFIG].base_domain)
    if site is None:
        return page_response(404)

    # 3. path: raw (still percent-encoded) and without the query string
    path = parse_path(request.rel_url.raw_path)

    # 4. lookup
    lookup = app[LOOKUP]
    deployment = await lookup.deployment_for(site)
    manifest = await lookup.manifest(deployment) if deployment else None
    if manifest is None:
        return page_response(404)

    # 5. resolve, then the deployment's own rules
    query = request.rel_url.raw_query_string
    decision = apply_rules(manifest, path, query)
    if decision.action is RuleAction.REDIRECT:
        return redirect_response(decision.location, decision.status)
    resolution = decision.resolution
    status = decision.status
    if resolution.outcome is Outcome.REDIRECT:
        return redirect_response(resolution.target + (f"?{query}" if query else ""))
    headers = rule_headers(manifest, path)
    if resolution.outcome is Outcome.NOT_FOUND or resolution.entry is None:
        own_page = not_found_page(manifest)
        if own_page is None:
            return page_response(404)
        return await file_response(request, own_page, app[BODIES], status=404, rules=headers)
    entry = resolution.entry
    if status != 200:  # a 404 rule: its page is not the representation of this URL
        return await file_response(request, entry, app[BODIES], status=status, rules=headers)

    # 6. representation: a range is of the identity body, else Accept-Encoding chooses
    etag = etag_for(entry)
    byte_range = requested_range(
        request.method, _field(request, "Range"), _field(request, "If-Range"), etag, entry.size
    )
    chosen = choose(
        entry, etag, _field(request, "Accept-Encoding"), identity_only=byte_range is not None
    )

    # 7. conditional
    conditions = _field(request, "If-None-Match")
    if conditions and if_none_match_matches(conditions, chosen.etag):
        return not_modified_response(entry, chosen, headers)
    if isinstance(byte_range, Unsatisfiable):
        return range_not_satisfiable_response(entry, chosen, headers)

    # 8. body
    return await file_response(
        request,
        entry,
        app[BODIES],
        rules=headers,
        chosen=chosen,
        byte_range=byte_range,
    )


def _field(request: web.Request, name: str) -> str | None:
    """A header's value; repeated fields joined as one list (RFC 9110 section 5.3)."""
    values = request.headers.getall(name, None)
    return ", ".join(values) if values else None
