// The deploy-platform Worker: serves deployments from the R2 bucket SITES with
// the same host -> alias -> manifest -> body lookup, status codes, headers and
// bodies as the Python edge-origin (serve/handler.py), one step per module:
//
//   1. method       GET and HEAD only, else 405 with Allow       (responses)
//   2. host         URL host -> deployment id, alias or custom
//                   domain, else 404                              (hosts)
//   3. path         decode and check the path, else 400           (paths)
//   4. lookup       domain -> alias -> deployment, else 404       (lookup)
//      answers      a stored answer for this deployment?          (answercache)
//      manifest     deployment -> manifest, else 404              (lookup)
//   5. resolve      file, or 308 to its one URL (clean URLs)      (paths)
//      rules        redirects, rewrites, header rules             (rules)
//      skew         a missing fingerprinted file from the alias's
//                   earlier deployments within the grace period   (skew)
//      fallback     nearest 404.html, a single-page app's
//                   index.html, else the platform's 404           (paths)
//      headers      cache policy, header rules, X-Robots-Tag      (responses, robots)
//   6. conditional  If-None-Match -> 304                          (responses)
//   7. body         Cache API for small bodies, R2 streams        (lookup)
//
// A later step never runs for a request an earlier one refused, so a malformed
// host or path costs no KV or R2 read. What R2 does not hold (NotInStore,
// BlobMissing) or cannot give (StoreUnavailable) goes to ORIGIN_URL when set
// (origin.js); otherwise, or when the origin is unreachable, it gets 404/500/503.

import { ConfigError, readConfig } from "./config.js";
import { siteForHost } from "./hosts.js";
import { BrokenSite, DeploymentLookup, NotInStore, StoreUnavailable } from "./lookup.js";
import { uncacheable } from "./answercache.js";
import { answerFromOrigin } from "./origin.js";
import { BadPath, fallbackFor, parsePath, pathKey } from "./paths.js";
import {
  ALLOWED_METHODS,
  answerHeaders,
  badRequest,
  cacheControlFor,
  etagFor,
  fileResponse,
  ifNoneMatchMatches,
  methodNotAllowed,
  notFound,
  notModified,
  page,
  redirect,
} from "./responses.js";
import { robotsHeaders } from "./robots.js";
import { applyRules, ruleHeaders } from "./rules.js";
import { earlierFile, skewApplies } from "./skew.js";

/**
 * Every binding and var the Worker reads (see wrangler.toml).
 * @typedef {object} Env
 * @property {import("./lookup.js").R2Reader} SITES  R2 bucket the publisher writes
 *   (`deployments/<id>/manifest.json`, `blobs/<sha256>`, `aliases/<name>.json`)
 * @property {string} BASE_DOMAIN   sites are `<label>.<BASE_DOMAIN>`
 * @property {import("./lookup.js").KVNamespaceLike} [ALIASES]  optional KV: alias name -> pointer JSON
 * @property {import("./lookup.js").KVNamespaceLike} [DOMAINS]  optional KV: hostname -> domain pointer JSON
 * @property {string} [ALIAS_TTL_SECONDS]       default 1
 * @property {string} [NEGATIVE_TTL_SECONDS]    default 1
 * @property {string} [MANIFEST_CACHE_ENTRIES]  default 256
 * @property {string} [BODY_CACHE_ITEM_BYTES]   default 262144
 * @property {string} [ANSWER_CACHE_SECONDS]    default 3600; 0: no answer cache
 * @property {string} [ORIGIN_URL]              optional: the edge-origin that answers R2's misses
 * @property {string} [SKEW_GRACE_SECONDS]      default 43200 (12 hours); 0 turns skew protection off
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
    lookup = new DeploymentLookup(env.SITES, env.ALIASES, config, Date.now, env.DOMAINS);
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
      const forwarded = await answerFromOrigin(request, url, lookups.get(env)?.config, error);
      if (forwarded) return forwarded;
      if (error instanceof NotInStore) return notFound();
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

  // 2. host: request.url carries the Host the visitor sent (Cloudflare sets it;
  //    X-Forwarded-Host is never believed here)
  const site = siteForHost(url.host, lookup.config.baseDomain);
  if (site === null) return notFound();

  // 3. path: still percent-encoded, without the query string
  const path = parsePath(url.pathname);

  // 4. lookup
  const deployment = await lookup.deploymentFor(site, ctx);
  if (deployment === undefined) throw new NotInStore(`R2 has no pointer for alias ${site.name}`);
  if (deployment === null) return notFound(); // the pointer says: taken down
  return lookup.answers.through(request, url, deployment, ctx, () =>
    answer(request, url, site, path, deployment, lookup, ctx),
  );
}

/**
 * Steps 4 (manifest) to 7: the answer from the deployment alone (see answercache.js).
 * @param {Request} request
 * @param {URL} url
 * @param {import("./hosts.js").Site} site
 * @param {import("./paths.js").RequestPath} path
 * @param {string} deployment
 * @param {DeploymentLookup} lookup
 * @param {Context} ctx
 */
async function answer(request, url, site, path, deployment, lookup, ctx) {
  const manifest = await lookup.manifest(deployment, ctx);
  if (manifest === null) throw new NotInStore(`R2 has no manifest for deployment ${deployment}`);

  // 5. resolve, then the deployment's own rules, then the fallback for no file
  const robots = robotsHeaders(site);
  const query = url.search.slice(1);
  const decision = applyRules(manifest, path, query);
  if (decision.action === "redirect") return redirect(decision.location, decision.status, robots);
  const { resolution } = decision;
  if (resolution.outcome === "redirect") {
    return redirect(resolution.target + (query ? `?${query}` : ""), 308, robots);
  }
  let status = decision.status;
  let key, entry;
  if (resolution.outcome === "file") {
    ({ target: key, entry } = resolution);
  } else {
    const earlier = await earlierFile(lookup, site, path, ctx);
    if (earlier !== null) {
      // Depends on the clock and on other deployments: never stored as this deployment's answer.
      const rules = answerHeaders(earlier.rules, robots);
      if (ifNoneMatchMatches(request.headers.get("If-None-Match"), etagFor(earlier.entry))) {
        return uncacheable(notModified(earlier.entry, rules));
      }
      const body = request.method === "HEAD" ? null : await lookup.body(earlier.entry, ctx);
      return uncacheable(fileResponse(earlier.entry, body, 200, rules));
    }
    // This 404 would have been an earlier deployment's file within the grace
    // period: it depends on the alias's history and the clock, so it is not stored.
    const missing = skewApplies(site, path) ? uncacheable : (/** @type {Response} */ r) => r;
    const fallback = fallbackFor(manifest, path);
    if (fallback === null) return missing(notFound(robots));
    // A 404 rule whose page is missing still answers 404.
    ({ key, entry } = fallback);
    if (status === 200) status = fallback.status;
    if (status !== 200) {
      const headers = answerHeaders(ruleHeaders(manifest, path), robots);
      const body = request.method === "HEAD" ? null : await lookup.body(entry, ctx);
      return missing(fileResponse(entry, body, status, headers));
    }
  }
  const headers = answerHeaders(
    [["Cache-Control", cacheControlFor(pathKey(path), key)]],
    ruleHeaders(manifest, path),
    robots,
  );
  const head = request.method === "HEAD";
  if (status !== 200) {
    // a 404 rule's page is not the representation of this URL
    return fileResponse(entry, head ? null : await lookup.body(entry, ctx), status, headers);
  }

  // 6. conditional
  if (ifNoneMatchMatches(request.headers.get("If-None-Match"), etagFor(entry))) {
    return notModified(entry, headers);
  }

  // 7. body
  return fileResponse(entry, head ? null : await lookup.body(entry, ctx), 200, headers);
}
