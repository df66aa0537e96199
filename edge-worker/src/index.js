// The deploy-platform Worker: serves deployments from the R2 bucket SITES with
// the same host -> alias -> manifest -> body lookup, status codes, headers and
// bodies as the Python edge-origin (serve/handler.py), one step per module:
//
//   1. method       GET and HEAD only, else 405 with Allow       (responses)
//   2. host         host -> deployment id or alias, else 404      (hosts)
//   3. path         decode and check the path, else 400           (paths)
//   4. lookup       alias -> deployment -> manifest, else 404     (lookup)
//   5. resolve      file, index.html, redirect, 404 page; rules   (paths, rules)
//   6. represent    Range/If-Range -> identity bytes, else
//                   Accept-Encoding picks a variant                (ranges, encodings)
//   7. conditional  If-None-Match -> 304; range past the end -> 416 (responses)
//   8. body         Cache API for small bodies, R2 streams (ranged) (lookup)
//
// A later step never runs for a request an earlier one refused, so a malformed
// host or path costs no KV or R2 read.

import { ConfigError, readConfig } from "./config.js";
import { choose, clientAcceptEncoding } from "./encodings.js";
import { siteForHost } from "./hosts.js";
import { BrokenSite, DeploymentLookup, StoreUnavailable } from "./lookup.js";
import { BadPath, notFoundPage, parsePath } from "./paths.js";
import {
  ALLOWED_METHODS,
  badRequest,
  etagFor,
  fileResponse,
  ifNoneMatchMatches,
  methodNotAllowed,
  notFound,
  notModified,
  page,
  rangeNotSatisfiable,
  redirect,
} from "./responses.js";
import { UNSATISFIABLE, requestedRange } from "./ranges.js";
import { applyRules, ruleHeaders } from "./rules.js";

/**
 * Every binding and var the Worker reads (see wrangler.toml).
 * @typedef {object} Env
 * @property {import("./lookup.js").R2Reader} SITES  R2 bucket the publisher writes
 *   (`deployments/<id>/manifest.json`, `blobs/<sha256>`, `aliases/<name>.json`)
 * @property {string} BASE_DOMAIN   sites are `<label>.<BASE_DOMAIN>`
 * @property {import("./lookup.js").KVNamespaceLike} [ALIASES]  optional KV: alias name -> pointer JSON
 * @property {string} [ALIAS_TTL_SECONDS]       default 1
 * @property {string} [NEGATIVE_TTL_SECONDS]    default 1
 * @property {string} [MANIFEST_CACHE_ENTRIES]  default 256
 * @property {string} [BODY_CACHE_ITEM_BYTES]   default 262144
 */

/** @typedef {{ waitUntil(promise: Promise<unknown>): void }} Context */

/** @type {WeakMap<object, DeploymentLookup>} one lookup (and its caches) per Env */
const lookups = new WeakMap();

/**
 * @param {Env} env
 * @returns {DeploymentLookup}
 */
function lookupFor(env) {
  let lookup = lookups.get(env);
  if (!lookup) {
    const config = readConfig(env); // throws ConfigError, never cached
    lookup = new DeploymentLookup(env.SITES, env.ALIASES, config);
    lookups.set(env, lookup);
  }
  return lookup;
}

export default {
  /**
   * @param {Request} request
   * @param {Env} env
   * @param {Context} ctx
   * @returns {Promise<Response>}
   */
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    try {
      return await serve(request, url, lookupFor(env), ctx);
    } catch (error) {
      if (error instanceof BadPath) return badRequest();
      if (error instanceof ConfigError) {
        console.error(`deploy-platform edge worker: bad configuration: ${error.message}`);
        return page(500, `The edge worker is misconfigured: ${error.message}`);
      }
      if (error instanceof StoreUnavailable) {
        console.warn(`object store failed for ${url.host}${url.pathname}: ${error.message}`);
        return page(503);
      }
      const reason = error instanceof BrokenSite ? error.message : String(error);
      console.error(`cannot serve ${url.host}${url.pathname}: ${reason}`);
      return page(500);
    }
  },
};

/**
 * @param {Request} request
 * @param {URL} url
 * @param {DeploymentLookup} lookup
 * @param {Context} ctx
 */
async function serve(request, url, lookup, ctx) {
  // 1. method
  if (!ALLOWED_METHODS.includes(request.method)) return methodNotAllowed();

  // 2. host: request.url carries the Host the visitor sent
  const site = siteForHost(url.host, lookup.config.baseDomain);
  if (site === null) return notFound();

  // 3. path: still percent-encoded, without the query string
  const path = parsePath(url.pathname);

  // 4. lookup
  const deployment = await lookup.deploymentFor(site);
  const manifest = deployment ? await lookup.manifest(deployment, ctx) : null;
  if (manifest === null) return notFound();

  // 5. resolve, then the deployment's own rules
  const query = url.search.slice(1);
  const decision = applyRules(manifest, path, query);
  if (decision.action === "redirect") return redirect(decision.location, decision.status);
  const { resolution, status } = decision;
  if (resolution.outcome === "redirect") {
    return redirect(resolution.target + (query ? `?${query}` : ""));
  }
  const headers = ruleHeaders(manifest, path);
  const head = request.method === "HEAD";
  const accept = clientAcceptEncoding(request);
  if (resolution.outcome === "not found") {
    const ownPage = notFoundPage(manifest);
    if (ownPage === null) return notFound();
    const chosen = choose(ownPage, etagFor(ownPage), accept);
    return fileResponse(ownPage, chosen, head ? null : await lookup.body(chosen.body, ctx), 404, headers);
  }
  const entry = resolution.entry;
  if (status !== 200) {
    // a 404 rule: its page is not the representation of this URL
    const chosen = choose(entry, etagFor(entry), accept);
    return fileResponse(entry, chosen, head ? null : await lookup.body(chosen.body, ctx), status, headers);
  }

  // 6. representation: a range is of the identity body, else Accept-Encoding chooses
  const etag = etagFor(entry);
  const range = requestedRange(
    request.method, request.headers.get("Range"), request.headers.get("If-Range"), etag, entry.size,
  );
  const chosen = choose(entry, etag, accept, range !== null);

  // 7. conditional
  if (ifNoneMatchMatches(request.headers.get("If-None-Match"), chosen.etag)) {
    return notModified(entry, chosen, headers);
  }
  if (range === UNSATISFIABLE) return rangeNotSatisfiable(entry, chosen, headers);
  const byteRange = /** @type {import("./ranges.js").ByteRange | null} */ (range);

  // 8. body
  const body = head ? null : await lookup.body(chosen.body, ctx, byteRange ?? undefined);
  return fileResponse(entry, chosen, body, 200, headers, byteRange);
}
