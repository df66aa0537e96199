"""Step 5b, skew protection: a fingerprinted file the current deployment lacks.

After a new deployment goes live on an alias, tabs opened on the previous one
still ask for its scripts and styles (`/assets/index-BxT3k9aZ.js`); the new
deployment has other names. So when the current deployment would answer 404 for
a fingerprinted path (`deploy_platform.contracts.fingerprint`) on an alias host or a
custom domain, the deployments the alias pointed at before are asked, newest
first, while they are within the grace period (`deploy_platform.contracts.skew`,
`EdgeConfig.skew_grace_seconds`). The file is served as that deployment serves
it (its header rules) and `immutable`: the name can never get other bytes;
the handler then answers it like any file (variants, ranges, 304).

Never for a deployment-id host (`<id>.D` shows exactly one deployment), never
for other paths (HTML must always be the current deployment's), and never past
the grace period.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from deploy_platform.contracts.fingerprint import is_fingerprinted
from deploy_platform.contracts.manifest import FileEntry
from serve.headers import IMMUTABLE_CACHE_CONTROL, answer_headers
from serve.hosts import Site, SiteKind
from serve.lookup import BrokenSite, DeploymentLookup
from serve.paths import RequestPath
from serve.rule_layer import rule_layer

__all__ = ["EarlierFile", "earlier_file"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlierFile:
    """A file from an earlier deployment and the headers to serve it with."""

    entry: FileEntry
    #: Its own deployment's header rules, and `immutable` (the name never gets other bytes).
    headers: dict[str, str | None]


async def earlier_file(
    lookup: DeploymentLookup,
    site: Site,
    path: RequestPath,
    *,
    host: str = "",
    raw_path: str | None = None,
) -> EarlierFile | None:
    """The file from an earlier deployment of the site's alias, or None (answer 404).
    `host` and `raw_path` are the request's, for that deployment's host rules."""
    if site.kind is SiteKind.DEPLOYMENT or path.directory or not is_fingerprinted(path.key):
        return None
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
        headers = answer_headers(
            rule_layer(manifest, path, host=host, raw_path=raw_path),
            {"Cache-Control": IMMUTABLE_CACHE_CONTROL},
        )
        return EarlierFile(entry, headers)
    return None
