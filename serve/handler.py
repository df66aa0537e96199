"""The request pipeline, one step per module, in the order they run.

  1. method       GET and HEAD only, else 405 with Allow
  2. host         Host (or a trusted proxy's X-Forwarded-Host) ->
                  deployment id, alias or custom domain, else 404        (hosts)
  3. path         decode and check the path, else 400                    (paths)
  4. lookup       domain -> alias -> deployment -> manifest, else 404    (lookup)
  5. resolve      path -> file, or 308 to its URL, as Pages decides      (paths)
     rules        the deployment's redirects, rewrites, header rules     (rules)
     skew         a missing fingerprinted file from the alias's earlier
                  deployments, within the grace period                   (skew)
     fallback     nearest 404.html, a single-page app's index.html,
                  else the platform's 404 page                           (paths)
     headers      cache policy (immutable when fingerprinted), Pages'    (headers,
                  defaults, the site's header rules (on 404 pages and     rule_layer,
                  redirects too), X-Robots-Tag off production             robots)
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
from collections.abc import Mapping

from aiohttp import web

from deploy_platform.contracts.manifest import FileEntry, Manifest
from deploy_platform.storage import ObjectNotFound, ObjectStoreError
from serve.appkeys import BODIES, CONFIG, LOOKUP
from serve.bodies import BodyMismatch
from serve.encodings import choose
from serve.headers import (
    Overlay,
    answer_headers,
    cache_control_for,
    etag_for,
    if_none_match_matches,
)
from serve.hosts import Site, request_host, site_for_host
from serve.lookup import BrokenSite
from serve.paths import BadPath, Outcome, RequestPath, fallback_for, parse_path
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
from serve.robots import robots_headers
from serve.rule_layer import rule_layer
from serve.rules import RuleAction, RuleDecision, apply_rules
from serve.skew import earlier_file

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
    config = app[CONFIG]
    host = request_host(
        request.host,
        request.headers.getall("X-Forwarded-Host", ()),
        request.remote,
        config.trusted_networks,
    )
    site = site_for_host(host, config.base_domain)
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

    # 5. resolve, then the deployment's own rules, then the fallback for no file
    robots = robots_headers(site)
    query = request.rel_url.raw_query_string
    raw_path = request.rel_url.raw_path
    rules = rule_layer(manifest, path, host=host or "", raw_path=raw_path)
    decision = apply_rules(manifest, path, query, host=host or "", raw_path=raw_path)
    if decision.action is RuleAction.REDIRECT:
        return redirect_response(decision.location, decision.status, answer_headers(rules, robots))
    resolution = decision.resolution
    if resolution.outcome is Outcome.REDIRECT:
        location = resolution.target + (f"?{query}" if query else "")
        return redirect_response(location, extra=answer_headers(rules, robots))
    served = await _file_for(
        request.app,
        site,
        path,
        manifest,
        decision,
        rules,
        robots,
        host=host or "",
        raw_path=raw_path,
    )
    if isinstance(served, web.Response):
        return served
    entry, status, headers = served
    if status != 200:  # a 404 page is not the representation of this URL
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


async def _file_for(
    app: web.Application,
    site: Site,
    path: RequestPath,
    manifest: Manifest,
    decision: RuleDecision,
    rules: Overlay,
    robots: Mapping[str, str],
    *,
    host: str,
    raw_path: str,
) -> tuple[FileEntry, int, dict[str, str | None]] | web.Response:
    """Step 5's end: the file to answer with, its status and headers, or the 404 page."""
    resolution = decision.resolution
    if resolution.outcome is Outcome.FILE and resolution.entry is not None:
        key, entry, status = resolution.target, resolution.entry, decision.status
    else:
        earlier = await earlier_file(app[LOOKUP], site, path, host=host, raw_path=raw_path)
        if earlier is not None:
            return earlier.entry, 200, answer_headers(earlier.headers, robots)
        fallback = fallback_for(manifest, path)
        if fallback is None:
            return page_response(404, answer_headers(rules, robots))
        key, entry = fallback.key, fallback.entry
        # A 404 rule whose page is missing still answers 404.
        status = fallback.status if decision.status == 200 else decision.status
    headers = answer_headers({"Cache-Control": cache_control_for(path.key, key)}, rules, robots)
    return entry, status, headers
