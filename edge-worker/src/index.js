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
//   5. resolve      file, or 308 to its URL, as Pages decides     (paths)
//      rules        redirects, rewrites, header rules             (rules)
//      skew         a missing fingerprinted file from the alias's
//                   earlier deployments within the grace period   (skew)
//      fallback     nearest 404.html, a single-page app's
//                   index.html, else the platform's 404           (paths)
//      headers      cache policy, Pages' defaults, header rules
//                   (on 404 pages and redirects too), X-Robots-Tag (responses, rulelayer, robots)
//   6. represent    Range/If-Range -> identity bytes, else
//                   Accept-Encoding picks a variant                (ranges, encodings)
//   7. conditional  If-None-Match -> 304; range past the end -> 416 (responses)
//   8. body         Cache API for small bodies, R2 streams (ranged) (lookup)
//
// A later step never runs for a request an earlier one refused, so a malformed
// host or path costs no KV or R2 read. What R2 does not hold (NotInStore,
// BlobMissing) or cannot give (StoreUnavailable) goes to ORIGIN_URL when set
// (origin.js); otherwise, or when the origin is unreachable, it gets 404/500/503.

import { ConfigError, readConfig } from "./config.js";
import { choose, clientAcceptEncoding } from "./encodings.js";
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
  rangeNotSatisfiable,
  redirect,
} from "./responses.js";
import { robotsHeaders } from "./robots.js";
import { UNSATISFIABLE, requestedRange } from "./ranges.js";
import { applyRules } from "./rules.js";
import { ruleLayer } from "./rulelayer.js";
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
 * @property {string} [MANIFEST_CACHE_BYTES]    default 33554432 (32 MiB): estimated memory for manifests
 * @property {string} [MANIFEST_CACHE_ENTRIES]  optional extra cap on their number (default: none)
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

  // 5. resolve, then the deployment's own rules, then skew protection and the fallback
  const robots = robotsHeaders(site);
  const info = { host: url.host, pathname: url.pathname };
  const rules = ruleLayer(manifest, path, info);
  const query = url.search.slice(1);
  const decision = applyRules(manifest, path, query, info);
  if (decision.action === "redirect") {
    return redirect(decision.location, decision.status, answerHeaders(rules, robots));
  }
  if (decision.resolution.outcome === "redirect") {
    return redirect(decision.resolution.target + (query ? `?${query}` : ""), 308, answerHeaders(rules, robots));
  }
  const served = await fileFor(site, path, manifest, decision, rules, robots, lookup, ctx, info);
  // A file from an earlier deployment, or a 404 where one could have been, depends
  // on the alias's history and the clock: never stored as this deployment's answer.
  const keep = served.volatile ? uncacheable : (/** @type {Response} */ r) => r;
  if (served.response) return keep(served.response);
  const { entry, status, headers } = served;
  const head = request.method === "HEAD";
  const accept = clientAcceptEncoding(request);
  if (status !== 200) {
    // a 404 page is not the representation of this URL
    const chosen = choose(entry, etagFor(entry), accept);
    return keep(fileResponse(entry, chosen, head ? null : await lookup.body(chosen.body, ctx), status, headers));
  }

  // 6. representation: a range is of the identity body, else Accept-Encoding chooses
  const etag = etagFor(entry);
  const range = requestedRange(
    request.method, request.headers.get("Range"), request.headers.get("If-Range"), etag, entry.size,
  );
  const chosen = choose(entry, etag, accept, range !== null);

  // 7. conditional
  if (ifNoneMatchMatches(request.headers.get("If-None-Match"), chosen.etag)) {
    return keep(notModified(entry, chosen, headers));
  }
  if (range === UNSATISFIABLE) return keep(rangeNotSatisfiable(entry, chosen, headers));
  const byteRange = /** @type {import("./ranges.js").ByteRange | null} */ (range);

  // 8. body
  const body = head ? null : await lookup.body(chosen.body, ctx, byteRange ?? undefined);
  return keep(fileResponse(entry, chosen, body, 200, headers, byteRange));
}

/**
 * Step 5's end (as serve/handler.py `_file_for`): the file to answer with, its
 * status and headers, or the platform's 404 page; `volatile` when the answer
 * depends on the alias's history (skew protection).
 * @param {import("./hosts.js").Site} site
 * @param {import("./paths.js").RequestPath} path
 * @param {import("./lookup.js").Manifest} manifest
 * @param {ReturnType<typeof applyRules>} decision
 * @param {import("./responses.js").Overlay} rules  the header rules' layer (rulelayer.js)
 * @param {Array<[string, string]>} robots
 * @param {DeploymentLookup} lookup
 * @param {Context} ctx
 * @param {import("./rules.js").RequestInfo} info  the request's host and URL pathname
 * @returns {Promise<{volatile: boolean, response: Response} | {volatile: boolean, response?: undefined, entry: import("./lookup.js").FileEntry, status: number, headers: import("./responses.js").Overlay}>}
 */
async function fileFor(site, path, manifest, decision, rules, robots, lookup, ctx, info) {
  const { resolution } = decision;
  const policy = (/** @type {string} */ key) => answerHeaders(
    [["Cache-Control", cacheControlFor(pathKey(path), key)]],
    rules,
    robots,
  );
  if (resolution.outcome === "file") {
    return { volatile: false, entry: resolution.entry, status: decision.status, headers: policy(resolution.target) };
  }
  const volatile = skewApplies(site, path);
  const earlier = await earlierFile(lookup, site, path, ctx, info);
  if (earlier !== null) {
    return { volatile, entry: earlier.entry, status: 200, headers: answerHeaders(earlier.rules, robots) };
  }
  const fallback = fallbackFor(manifest, path);
  if (fallback === null) return { volatile, response: notFound(answerHeaders(rules, robots)) };
  // A 404 rule whose page is missing still answers 404.
  const status = decision.status === 200 ? fallback.status : decision.status;
  return { volatile, entry: fallback.entry, status, headers: policy(fallback.key) };
}
