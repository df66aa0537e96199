"""The edge-origin as Dagster sees it: where the asset checks ask for a deployment's pages.

`url` is the edge-origin's own address (DP_EDGE_ORIGIN_URL, `http://127.0.0.1:8080`
under `deploy-platform up`); a request names the site in its Host header,
`<id>.<base domain>`, exactly as a browser's would, so no DNS is needed. An empty
`url` means there is no edge-origin to ask (a Worker-only installation): `fetch`
then says so instead of answering.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass

import dagster as dg

__all__ = ["EdgeOriginResource", "EdgeAnswer", "EdgeNotConfigured"]

_CHUNK = 256 * 1024


class EdgeNotConfigured(Exception):
    """No edge-origin URL is configured."""


@dataclass(frozen=True)
class EdgeAnswer:
    url: str
    status: int
    #: sha256 of the body as sent (asked for with Accept-Encoding: identity).
    body_sha256: str
    body_bytes: int
    location: str | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an answer to report, not to follow


class EdgeOriginResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Asks the edge-origin for a path of a host, the way a browser would."""

    url: str = ""
    base_domain: str = "localhost"
    timeout_seconds: float = 10.0

    def host_of(self, label: str) -> str:
        return f"{label}.{self.base_domain.strip().lower().rstrip('.') or 'localhost'}"

    def fetch(self, label: str, path: str = "/") -> EdgeAnswer:
        """GET `path` on host `<label>.<base domain>`; raises EdgeNotConfigured or OSError."""
        base = self.url.strip().rstrip("/")
        if not base:
            raise EdgeNotConfigured(
                "DP_EDGE_ORIGIN_URL is empty: set it to the edge-origin's address "
                "(deploy-platform up sets http://127.0.0.1:<edge port>)"
            )
        target = base + path
        request = urllib.request.Request(target, method="GET")
        request.add_header("Host", self.host_of(label))
        request.add_header("Accept-Encoding", "identity")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            response = opener.open(request, timeout=self.timeout_seconds)
        except urllib.error.HTTPError as err:
            response = err
        with response:
            digest = hashlib.sha256()
            size = 0
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
            return EdgeAnswer(
                url=target,
                status=int(response.status or 0),
                body_sha256=digest.hexdigest(),
                body_bytes=size,
                location=response.headers.get("Location"),
            )


# http.client raises these for a peer that answers nonsense; callers treat them as OSError.
EDGE_ERRORS = (OSError, http.client.HTTPException)
