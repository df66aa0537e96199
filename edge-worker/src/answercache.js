// Whole answers kept in the data centre's Cache API, keyed by deployment id.
//
// Once a host has been resolved to a deployment id, the answer to a GET is a
// function of that (immutable) deployment and the request alone: the manifest and
// blobs never change. So an answer is stored under a key naming
//
//   the deployment id   an alias that moves resolves to another id, so another key:
//                       the cache never outlives the alias TTL (lookup.js)
//   the host            the same deployment answers differently per host kind
//                       (preview and immutable hosts get other headers)
//   path and query      exactly as sent (redirects keep the query)
//   Accept-Encoding     the visitor's own (`request.cf.clientAcceptEncoding`: the
//                       header the Worker sees is rewritten by Cloudflare), lowercase,
//                       without spaces: each encoded variant gets keys of its own
//
// and a hit skips the manifest (its parse, on a cold isolate) and the body's R2
// read; bodies too large for lookup.js's blob cache are stored here too.
//
// Not stored (the answer depends on more than the key, or is not one answer):
// - HEAD and any method but GET; requests with Range or If-None-Match (206 and
//   304 are made per request: the Cache API would answer those itself, with
//   headers of its own, breaking parity with serve/);
// - answers whose Vary names anything but Accept-Encoding, with Set-Cookie, or
//   whose Cache-Control says no-store or private (a site's `_headers` asked);
// - statuses 206, 304 and 5xx; errors never reach here (they are thrown);
// - any answer passed to `uncacheable()`: an answer that depends on the alias, a
//   clock or another deployment (for example one served for skew protection)
//   must be marked so.
//
// The stored copy keeps the answer's status and headers in one JSON header and
// gets a Cache-Control of our own (the answer's `max-age=0` would keep it out);
// a hit is rebuilt from them, so the Cache API's own headers (Age,
// CF-Cache-Status, Date) never reach the visitor. ANSWER_CACHE_SECONDS bounds an
// entry's life: answers an older version of this Worker stored are replaced
// within that time after a Worker deploy (0 turns the answer cache off).

/** Synthetic keys; bump the version when the Worker's answers change shape. */
const KEY_ORIGIN = "https://deploy-platform-edge.internal/answers/v1/";
const STORED = "X-Deploy-Platform-Answer";
const UNSTORED_STATUSES = new Set([206, 304]);
// Cloudflare limits a header's size; an answer whose headers are larger is not stored.
const MAX_STORED_HEADER = 8 * 1024;

/** @type {WeakSet<Response>} */
const unstorable = new WeakSet();

/**
 * Keep `response` out of the answer cache (it depends on more than the deployment).
 * @param {Response} response
 * @returns {Response}
 */
export function uncacheable(response) {
  unstorable.add(response);
  return response;
}

/**
 * @typedef {{ match(key: string): Promise<Response | undefined>, put(key: string, r: Response): Promise<void> }} EdgeCache
 * @typedef {{ waitUntil(promise: Promise<unknown>): void }} WaitUntil
 */

export class AnswerCache {
  /**
   * @param {EdgeCache | undefined} cache  caches.default; undefined: nothing is stored
   * @param {number} seconds  ANSWER_CACHE_SECONDS
   */
  constructor(cache, seconds) {
    this.cache = seconds > 0 ? cache : undefined;
    this.seconds = seconds;
  }

  /**
   * The answer for `request` on `deployment`: from the cache, or `produce()`d and stored.
   * @param {Request} request
   * @param {URL} url
   * @param {string} deployment
   * @param {WaitUntil | undefined} ctx
   * @param {() => Promise<Response>} produce
   * @returns {Promise<Response>}
   */
  async through(request, url, deployment, ctx, produce) {
    if (!this.cache || !storableRequest(request)) return produce();
    const key = answerKey(request, url, deployment);
    const hit = await this.match(key);
    if (hit) return hit;
    const response = await produce();
    if (storableResponse(response)) {
      const writing = this.store(key, response.clone()).catch((error) => {
        console.warn(`Cache API put for ${url.host}${url.pathname} failed: ${error}`);
      });
      ctx?.waitUntil(writing);
    }
    return response;
  }

  /** @param {string} key @returns {Promise<Response | null>} */
  async match(key) {
    /** @type {Response | undefined} */
    let hit;
    try {
      hit = await /** @type {EdgeCache} */ (this.cache).match(key);
    } catch (error) {
      console.warn(`Cache API match failed (${error}); answering from the deployment`);
      return null;
    }
    const stored = hit?.headers.get(STORED);
    if (!hit || !stored) return null;
    let answer;
    try {
      answer = JSON.parse(stored);
    } catch {
      return null;
    }
    const body = answer.status === 204 ? null : hit.body;
    const headers = new Headers(answer.headers);
    // A stored body that was already encoded (br, gzip) goes out as it is.
    const encodeBody = headers.has("Content-Encoding") ? "manual" : "automatic";
    return new Response(body, /** @type {ResponseInit} */ ({ status: answer.status, headers, encodeBody }));
  }

  /** @param {string} key @param {Response} response */
  async store(key, response) {
    const stored = JSON.stringify({ status: response.status, headers: [...response.headers] });
    if (stored.length > MAX_STORED_HEADER) {
      await response.body?.cancel();
      return;
    }
    const copy = new Response(response.body, {
      status: 200,
      headers: { "Cache-Control": `public, max-age=${this.seconds}`, [STORED]: stored },
    });
    await /** @type {EdgeCache} */ (this.cache).put(key, copy);
  }
}

/**
 * The answer cache key of a GET on `deployment`.
 * @param {Request} request
 * @param {URL} url
 * @param {string} deployment
 */
export function answerKey(request, url, deployment) {
  const encoding = acceptEncoding(request).toLowerCase().replace(/\s+/g, "");
  const query = new URLSearchParams({ host: url.host, target: url.pathname + url.search, ae: encoding });
  return `${KEY_ORIGIN}${deployment}?${query}`;
}

/**
 * The visitor's Accept-Encoding. Cloudflare (and workerd) hand the Worker a
 * normalised header ("br, gzip") and keep the visitor's own in
 * `request.cf.clientAcceptEncoding`; a variant chosen by the visitor's header
 * must be keyed by that one.
 * @param {Request} request
 */
export function acceptEncoding(request) {
  const cf = /** @type {{clientAcceptEncoding?: string} | undefined} */ (/** @type {any} */ (request).cf);
  return cf?.clientAcceptEncoding ?? request.headers.get("Accept-Encoding") ?? "";
}

/** @param {Request} request */
function storableRequest(request) {
  return (
    request.method === "GET" && !request.headers.has("Range") && !request.headers.has("If-None-Match")
  );
}

/** @param {Response} response */
function storableResponse(response) {
  if (unstorable.has(response) || UNSTORED_STATUSES.has(response.status) || response.status >= 500) {
    return false;
  }
  if (response.headers.has("Set-Cookie")) return false;
  const vary = (response.headers.get("Vary") ?? "").toLowerCase().split(",").map((s) => s.trim());
  if (vary.some((name) => name !== "" && name !== "accept-encoding")) return false;
  const control = (response.headers.get("Cache-Control") ?? "").toLowerCase();
  return !/(^|[\s,])(no-store|private)([\s,=]|$)/.test(control);
}
