// The deployment's header rules for one request, as one overlay layer (mirrors
// serve/rule_layer.py). Cloudflare Pages applies `_headers` to every answer below
// 500: files, 404 pages and redirects. A rule sets a header (replacing the
// platform's value of that name) or removes one (`! Name`, a null value here).

import { ruleHeaderChanges } from "./rules.js";

/**
 * What the header rules matching the request set (a value) and remove (null);
 * removals first, so a later rule that sets the header again leaves it set.
 * @param {import("./lookup.js").Manifest} manifest
 * @param {import("./paths.js").RequestPath} path
 * @param {import("./rules.js").RequestInfo} info  the request's host and URL pathname
 * @returns {import("./responses.js").Overlay}
 */
export function ruleLayer(manifest, path, info) {
  const changes = ruleHeaderChanges(manifest, path, info);
  return [...[...changes.unset].map((name) => /** @type {[string, null]} */ ([name, null])), ...changes.set];
}
