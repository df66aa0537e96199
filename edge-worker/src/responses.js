// Typed responses and their headers (mirrors serve/responses.py and serve/headers.py).
//
// Every file gets its manifest content type, a strong ETag (the body's sha256)
// and `Cache-Control: public, max-age=0, must-revalidate`: a host may move to
// another deployment at any moment, so caches must ask again, and the ETag makes
// asking cheap (304). A fingerprinted file answered at its own URL gets
// `public, max-age=31536000, immutable` instead (cacheControlFor). Defaults on
// every answer of a site below 500, as Cloudflare Pages sends them:
// `Access-Control-Allow-Origin: *`, `Referrer-Policy:
// strict-origin-when-cross-origin`, `X-Content-Type-Options: nosniff`; robots.js
// adds `X-Robots-Tag: noindex` off production; a 404 is `Cache-Control: no-store`
// whatever a rule says. Layers, later ones win: a manifest entry's own headers
// (the publisher's early-hint `Link`); type, validator, Cache-Control and the
// defaults; an overlay (answerHeaders: our cache policy, the deployment's header
// rules, robots), whose null values remove a header (`! Name`) and which may set
// the type; Server. None can replace the validator or framing headers. A file
// answer sends the chosen representation (encodings.js: its ETag,
// Content-Encoding, Vary) and, for a
// range (ranges.js), those bytes of the identity body with 206.

import { representationHeaders } from "./encodings.js";
import { isFingerprinted } from "./fingerprint.js";
import { renderPage } from "./pages.js";
import { contentRange } from "./ranges.js";

/**
 * @typedef {import("./lookup.js").FileEntry} FileEntry
 * @typedef {import("./encodings.js").Representation} Representation
 * @typedef {import("./ranges.js").ByteRange} ByteRange
 */

export const ALLOWED_METHODS = ["GET", "HEAD"];
export const FILE_CACHE_CONTROL = "public, max-age=0, must-revalidate";
export const IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable";
export const REFERRER_POLICY = "strict-origin-when-cross-origin";
// The platform's pages say nothing about any site: never store them.
export const PAGE_CACHE_CONTROL = "no-store";
export const SERVER = "deploy-platform-edge";
export const ALLOW_ANY_ORIGIN = "*";

const STRONG_ETAG = /^"[\x21\x23-\x7e\x80-\xff]*"$/;
const ETAG_ELEMENT = /[\s,]*(?:W\/)?("[^"]*")\s*(?:,|$)/y;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const RESERVED = new Set([
  "content-length", "content-type", "content-encoding", "transfer-encoding", "connection",
  "etag", "keep-alive", "upgrade", "trailer",
]);
// A header rule may choose the type (as Pages' `_headers` may); never the framing
// or the validator (serve/headers.py says why).
const RULE_RESERVED = new Set([...RESERVED].filter((name) => name !== "content-type"));
// Neither a manifest nor a rule names the software answering.
const OURS = new Set(["server"]);
const ENCODER = new TextEncoder();

/** @param {FileEntry} entry  Its strong ETag; one from the blob hash if the manifest's is malformed. */
export function etagFor(entry) {
  return STRONG_ETAG.test(entry.etag) ? entry.etag : `"${entry.blob}"`;
}

/**
 * A year for a fingerprinted file answered at its own path; revalidate for everything else.
 * @param {string} requested  the request's manifest key
 * @param {string} served     the served file's key
 */
export function cacheControlFor(requested, served) {
  return requested === served && isFingerprinted(served) ? IMMUTABLE_CACHE_CONTROL : FILE_CACHE_CONTROL;
}

/**
 * @typedef {Array<[string, string | null]>} Overlay  a value to set, or null to remove the header
 */

/**
 * The layers of an overlay, merged in order (later wins, names case-insensitive):
 * our Cache-Control, the header rules, then the robots header.
 * @param {...Overlay} layers
 * @returns {Overlay}
 */
export function answerHeaders(...layers) {
  /** @type {Map<string, [string, string | null]>} */
  const merged = new Map();
  for (const layer of layers) {
    for (const [name, value] of layer) {
      merged.delete(name.toLowerCase());
      merged.set(name.toLowerCase(), [name, value]);
    }
  }
  return [...merged.values()];
}

/** @returns {Overlay} the defaults every answer of a site below 500 carries */
function defaults() {
  return [
    ["Access-Control-Allow-Origin", ALLOW_ANY_ORIGIN],
    ["Referrer-Policy", REFERRER_POLICY],
    ["X-Content-Type-Options", "nosniff"],
  ];
}

/**
 * An ordered, case-insensitive header list (as serve/'s dict): `base`, then the
 * overlay (never the reserved headers), then Server; a 404 gets no-store.
 * @param {Overlay} base
 * @param {Overlay} overlay
 * @param {number} status
 */
function applyOverlay(base, overlay, status) {
  /** @type {Map<string, [string, string | null]>} */
  const headers = new Map();
  const put = (/** @type {string} */ name, /** @type {string | null} */ value) => {
    headers.delete(name.toLowerCase());
    headers.set(name.toLowerCase(), [name, value]);
  };
  for (const [name, value] of base) put(name, value);
  for (const [name, value] of overlay) {
    const lower = name.toLowerCase();
    if (RULE_RESERVED.has(lower) || OURS.has(lower)) continue;
    if (value !== null && !FIELD_VALUE.test(value)) continue;
    put(name, value);
  }
  if (status === 404) put("Cache-Control", PAGE_CACHE_CONTROL);
  put("Server", SERVER);
  const result = new Headers();
  for (const [name, value] of headers.values()) if (value !== null) result.set(name, value);
  return result;
}

/**
 * Headers for a 200/404 file answer and (minus the type) for its 304.
 * @param {FileEntry} entry
 * @param {Overlay} [rules]  the overlay for this answer (answerHeaders)
 * @param {number} [status]
 */
export function fileHeaders(entry, rules = [], status = 200) {
  /** @type {Overlay} */
  const base = [];
  for (const [name, value] of Object.entries(entry.headers)) {
    const lower = name.toLowerCase();
    if (!RESERVED.has(lower) && !OURS.has(lower) && TOKEN.test(name) && FIELD_VALUE.test(value)) {
      // A 404 page's early hints are not the requested page's (Pages sends none there).
      if (!(status === 404 && lower === "link")) base.push([name, value]);
    }
  }
  // The manifest's own Referrer-Policy and the like stay: it was written for this file.
  const present = new Set(base.map(([name]) => name.toLowerCase()));
  for (const [name, value] of defaults()) if (!present.has(name.toLowerCase())) base.push([name, value]);
  base.push(["Content-Type", entry.contentType], ["ETag", etagFor(entry)], ["Cache-Control", FILE_CACHE_CONTROL]);
  return applyOverlay(base, rules, status);
}

/**
 * True when If-None-Match names `etag` (weak comparison, `*`); a header that
 * does not parse is ignored, so never a wrong 304 (RFC 9110 13.1.2).
 * @param {string | null} header
 * @param {string} etag
 */
export function ifNoneMatchMatches(header, etag) {
  if (header === null) return false;
  const value = header.trim();
  if (value === "*") return true;
  const target = etag.startsWith("W/") ? etag.slice(2) : etag;
  let position = 0;
  while (position < value.length) {
    ETAG_ELEMENT.lastIndex = position;
    const element = ETAG_ELEMENT.exec(value);
    if (element === null) return false;
    if (element[1] === target) return true;
    if (ETAG_ELEMENT.lastIndex === position) return false;
    position = ETAG_ELEMENT.lastIndex;
  }
  return false;
}

/**
 * The platform's own page for `status`; `message` replaces the standard text.
 * Below 500 it carries the site defaults and `extra`; a 5xx none of a site's headers.
 * @param {number} status
 * @param {string} [message]
 * @param {Overlay} [extra]  a live site's overlay (header rules, robots) on its 404
 */
export function page(status, message, extra = []) {
  /** @type {Overlay} */
  const base = [
    ["Content-Type", "text/html; charset=utf-8"],
    ["Cache-Control", PAGE_CACHE_CONTROL],
    ["X-Content-Type-Options", "nosniff"],
  ];
  const headers = status >= 500 ? applyOverlay(base, [], status) : applyOverlay([...base, ...defaults()], extra, status);
  if (status === 405) headers.set("Allow", ALLOWED_METHODS.join(", ")); // RFC 9110 15.5.6
  const body = ENCODER.encode(renderPage(status, message));
  // Said explicitly so a HEAD answer carries it too, as serve/'s does.
  headers.set("Content-Length", String(body.byteLength));
  return new Response(body, { status, headers });
}

/** @param {Overlay} [extra] */
export const notFound = (extra) => page(404, undefined, extra);
export const badRequest = () => page(400);
export const methodNotAllowed = () => page(405);

/**
 * 308 by default: like 301 but the method is kept; revalidated, since an alias may move on.
 * @param {string} location
 * @param {number} [status]  a deployment's own rules choose 301, 302, 303, 307 or 308
 * @param {Overlay} [extra]  the site's overlay (header rules, robots), as Pages applies
 *   `_headers` to redirects too
 */
export function redirect(location, status = 308, extra = []) {
  const headers = applyOverlay(
    [["Location", location], ["Cache-Control", FILE_CACHE_CONTROL], ...defaults()],
    extra.filter(([name]) => name.toLowerCase() !== "location"),
    status,
  );
  return new Response(null, { status, headers });
}

/**
 * 304 with the fields a 200 would carry for caches (RFC 9110 15.4.5).
 * @param {FileEntry} entry
 * @param {Representation} chosen
 * @param {Overlay} [rules]
 */
export function notModified(entry, chosen, rules) {
  const headers = fileHeaders(entry, rules);
  representationHeaders(headers, entry, chosen);
  headers.delete("Content-Type");
  headers.delete("Content-Encoding"); // the 304 has no content to be encoded
  return new Response(null, { status: 304, headers });
}

/**
 * 416 for a range past the end, saying how long the body is (RFC 9110 15.5.17).
 * @param {FileEntry} entry
 * @param {Representation} chosen
 * @param {Overlay} [rules]
 */
export function rangeNotSatisfiable(entry, chosen, rules) {
  const headers = fileHeaders(entry, rules);
  representationHeaders(headers, entry, chosen);
  headers.delete("Content-Type");
  headers.set("Accept-Ranges", "bytes");
  headers.set("Content-Range", `bytes */${chosen.body.size}`);
  headers.set("Content-Length", "0");
  return new Response(null, { status: 416, headers });
}

/**
 * A file answer; `body` is null for HEAD. A 404 page is not the representation
 * of the requested URL, so it carries no validator and offers no ranges.
 * @param {FileEntry} entry
 * @param {Representation} chosen
 * @param {ReadableStream | ArrayBuffer | null} body  already the range's bytes when `range` is given
 * @param {number} [status]
 * @param {Overlay} [rules]
 * @param {ByteRange | null} [range]  answer 206 with these bytes of the (identity) body
 */
export function fileResponse(entry, chosen, body, status = 200, rules, range = null) {
  const headers = fileHeaders(entry, rules, status);
  representationHeaders(headers, entry, chosen);
  if (status !== 200) headers.delete("ETag");
  else headers.set("Accept-Ranges", "bytes");
  let length = chosen.body.size;
  if (range !== null) {
    status = 206;
    length = range.end - range.start + 1;
    headers.set("Content-Range", contentRange(range));
  }
  headers.set("Content-Length", String(length));
  // "manual": the body is already encoded as Content-Encoding says; without it
  // the runtime would compress it a second time.
  const encodeBody = chosen.coding === null ? "automatic" : "manual";
  return new Response(body, /** @type {ResponseInit} */ ({ status, headers, encodeBody }));
}
