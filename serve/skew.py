"""Step 5b, skew protection: a fingerprinted file the current deployment lacks.

After a new deployment goes live on an alias, tabs opened on the previous one
still ask for its scripts and styles (`/assets/index-BxT3k9aZ.js`); the new
deployment has other names. So when the current deployment would answer 404 for
a fingerprinted path (`deploy_platform.fingerprint`) on an alias host or a
custom domain, the deployments the alias pointed at before are asked, newest
first, while they are within the grace period (`deploy_platform.skew`,
`EdgeConfig.skew_grace_seconds`). The file is served as that deployment serves
it (its header rules) and `immutable`: the name can never get other bytes.

Never for a deployment-id host (`<id>.D` shows exactly one deployment), never
for other paths (HTML must always be the current deployment's), and never past
the grace period.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from deploy_platform.fingerprint import is_fingerprinted
from serve.appkeys import BODIES, LOOKUP
from serve.headers import IMMUTABLE_CACHE_CONTROL, answer_headers, etag_for, if_none_match_matches
from serve.hosts import Site, SiteKind
from serve.lookup import BrokenSite
from serve.paths import RequestPath
from serve.responses import file_response, not_modified_response
from serve.rules import rule_headers

__all__ = ["earlier_file_response"]

log = logging.getLogger(__name__)



async def earlier_file_response(
    request: web.Request, site: Site, path: RequestPath, robots: Mapping[str, str]
) -> web.StreamResponse | None:
    """The file from an earlier deployment of the site's alias, or None (answer 404).

    `robots`: the site's `serve.robots.robots_headers`, which a preview's answers keep.
    """
    if site.kind is SiteKind.DEPLOYMENT or path.directory or not is_fingerprinted(path.key):
        return None
    lookup = request.app[LOOKUP]
    alias = await lookup.alias_for(site)
    if alias is None:
        return None
    for deployment in await lookup.earlier_deployments(alias):
        try:
            manifest = await lookup.manifest(deployment)
        except BrokenSite as exc:
            # An old deployment's damage must not turn the current site's 404 into a 500.
            log.error("skipping earlier deployment %s of %s: %s", deployment, alias, exc)
            continue
        entry = manifest.files.get(path.key) if manifest is not None else None
        if manifest is None or entry is None:
            continue
        headers = {
            name: value
            for name, value in rule_headers(manifest, path).items()
            if name.lower() != "cache-control"
        }
        headers["Cache-Control"] = IMMUTABLE_CACHE_CONTROL
        headers = answer_headers(headers, robots)
        conditions = request.headers.getall("If-None-Match", None)
        if conditions and if_none_match_matches(", ".join(conditions), etag_for(entry)):
            return not_modified_response(entry, headers)
        return await file_response(request, entry, request.app[BODIES], rules=headers)
    return None
