// Forwarding what R2 cannot answer to the Python edge-origin (ORIGIN_URL).
//
// R2 may lag the publisher (a bucket replicated from the origin's store, a
// deployment published a moment ago) or fail. With ORIGIN_URL set, these misses
// go to the origin, which reads the platform's own store and Redis index:
//
//   forwarded (R2 lacks it or failed)        answered here (R2 is authoritative)
//   ---------------------------------        ---------------------------------------
//   alias with no pointer in R2 (NotInStore) alias pointer that says "taken down"
//   deployment id with no manifest in R2     a site's missing file: its 404.html or
//     (NotInStore)                             the platform 404, redirects, rules
//   blob named by a manifest, missing in R2  host outside BASE_DOMAIN or malformed
//     (BlobMissing)                            (404), bad path (400), method (405)
//   R2 read failed (StoreUnavailable)        broken manifest or pointer (500),
//                                              misconfiguration (500)
//
// A forwarded request keeps its method (GET or HEAD), path, query and headers,
// minus hop-by-hop ones; the host the visitor asked for travels in
// X-Forwarded-Host (one value: the visitor's own X-Forwarded-Host is dropped, as
// the origin trusts the last value from a trusted proxy, DP_EDGE_TRUSTED_PROXIES)
// and the scheme in X-Forwarded-Proto. The origin's answer (any status,
// redirects included) is returned as it is and never stored in the answer cache.
// If the origin cannot be reached within ORIGIN_TIMEOUT_MS, the visitor gets the
// answer this Worker would have given without ORIGIN_URL (404, 500 or 503 page).
//
// Every forwarded request costs the origin one request, made-up hosts included:
// the origin answers those from its negative cache.

import { BlobMissing, NotInStore, StoreUnavailable } from "./lookup.js";

export const ORIGIN_TIMEOUT_MS = 10_000;
// RFC 9110 7.6.1: connection-specific fields are not forwarded.
const HOP_BY_HOP = [
  "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
  "transfer-encoding", "upgrade", "host",
];

/**
 * True for the errors the origin may be able to answer (see the table above).
 * @param {unknown} error
 */
export function isForwardable(error) {
  return error instanceof NotInStore || error instanceof BlobMissing || error instanceof StoreUnavailable;
}

/**
 * The origin's answer to `request`, or null: no origin configured, an error the
 * origin cannot help with, or the origin could not be reached.
 * @param {Request} request
 * @param {URL} url  the visitor's URL (its host is the site's host)
 * @param {import("./config.js").Config | undefined} config
 * @param {unknown} error  why this Worker could not answer
 * @returns {Promise<Response | null>}
 */
export async function answerFromOrigin(request, url, config, error) {
  const origin = config?.originUrl;
  if (!origin || !isForwardable(error)) return null;
  const target = new URL(url.pathname + url.search, origin);
  const headers = new Headers(request.headers);
  for (const name of HOP_BY_HOP) headers.delete(name);
  for (const listed of (request.headers.get("Connection") ?? "").split(",")) {
    if (listed.trim()) headers.delete(listed.trim());
  }
  headers.set("X-Forwarded-Host", url.host);
  headers.set("X-Forwarded-Proto", url.protocol.slice(0, -1));
  try {
    return await fetch(target, {
      method: request.method,
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(ORIGIN_TIMEOUT_MS),
    });
  } catch (failure) {
    console.warn(`origin ${origin.origin} did not answer ${url.host}${url.pathname}: ${failure}`);
    return null;
  }
}
