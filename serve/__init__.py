"""The edge-origin: serves published deployments by Host header (no dagster here).

A request runs through one visible pipeline (`serve.handler`), one module per step:

  method        GET and HEAD only                              handler
  host          Host header -> deployment id or alias name     hosts
  lookup        alias -> deployment id -> manifest (cached)    lookup
  path          URL path -> file at its one URL, or redirect   paths
  rules         redirects, rewrites, header rules              rules
  skew          a missing fingerprinted file from earlier      skew
                deployments of the alias, within the grace
  fallback      nearest 404.html, a single-page app's index    paths
  headers       cache policy, safe defaults, X-Robots-Tag      headers, robots
  represent     a byte range, or a variant by Accept-Encoding  ranges, encodings
  conditional   If-None-Match -> 304, range past the end -> 416 headers
  body          cached small bodies, streamed large ones, 206  bodies, responses
  error pages   the platform's own 400/404/405/5xx pages       pages

Start it with `python -m serve --host 127.0.0.1 --port 8080`; settings come from
the same `DP_*` variables as the rest of the platform (see `serve.config`).
"""

from serve.app import create_app
from serve.config import EdgeConfig, EdgeConfigError

__all__ = ["create_app", "EdgeConfig", "EdgeConfigError"]
