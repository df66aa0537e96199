// The deployment's header rules for one request, as one overlay layer (mirrors
// serve/rule_layer.py). Cloudflare Pages applies `_headers` to every answer below
// 500: files, 404 pages and redirects. A rule sets a header (replacing the
// platform's value of that name) or removes one (`! Name`, a null value here).

import { ruleHeaders } from "./rules.js";

/**
 * What the header rules matching `path` set (a value) and remove (null).
 * @param {import("./lookup.js").Manifest} manifest
 * @param {import("./paths.js").RequestPath} path
 * @returns {import("./responses.js").Overlay}
 */
export function ruleLayer(manifest, path) {
  return ruleHeaders(manifest, path);
}
