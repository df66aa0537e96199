// Typed responses and their headers (mirrors serve/responses.py and serve/headers.py).
//
// Every file gets its manifest content type, a strong ETag (the body's sha256)
// and `Cache-Control: public, max-age=0, must-revalidate`: a host may move to
// another deployment at any moment, so caches must ask again, and the ETag makes
// asking cheap (304). A fingerprinted file answered at its own URL gets
// `public, max-age=31536000, immutable` instead (cacheControlFor). Safe
// defaults: `X-Content-Type-Options: nosniff`, `Referrer-Policy:
// strict-origin-when-cross-origin`; robots.js adds `X-Robots-Tag: noindex` off
// production. Layers, later ones win: a manifest entry's own headers; type,
// validator, Cache-Control, Referrer-Policy; answerHeaders (our cache policy, the
// deployment's header rules, robots); nosniff and Server. None can replace the
// type, validator or framing headers. A file answer sends the chosen
// representation (encodings.js: its ETag, Content-Encoding, Vary) and, for a
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

const STRONG_ETAG = /^"[\x21\x23-\x7e\x80-\xff]*"$/;
const ETAG_ELEMENT = /[\s,]*(?:W\/)?("[^"]*")\s*(?:,|$)/y;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const RESERVED = new Set([
  "content-length", "content-type", "content-encoding", "transfer-encoding", "connection",
  "etag", "keep-alive", "upgrade", "trailer",
]);
const SECURITY = new Set(["x-content-type-options", "server"]);
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
 * The layers for fileHeaders' `rules`, in order (later wins, names case-insensitive):
 * our Cache-Control, the header rules, then the robots header.
 * @param {...Array<[string, string]>} layers
 * @returns {Array<[string, string]>}
 */
export function answerHeaders(...layers) {
  /** @type {Map<string, [string, string]>} */
  const merged = new Map();
  for (const layer of layers) {
    for (const [name, value] of layer) {
      merged.delete(name.toLowerCase());
      merged.set(name.toLowerCase(), [name, value]);
    }
  }
  return [...merged.values()];
}

/**
 * Headers for a 200/404 file answer and (minus the type) for its 304.
 * @param {FileEntry} entry
 * @param {Array<[string, string]>} [rules]  what goes over the file's headers (answerHeaders)
 */
export function fileHeaders(entry, rules = []) {
  const headers = new Headers();
  for (const [name, value] of Object.entries(entry.headers)) {
    if (!RESERVED.has(name.toLowerCase()) && TOKEN.test(name) && FIELD_VALUE.test(value)) {
      headers.set(name, value);
    }
  }
  headers.set("Content-Type", entry.contentType);
  headers.set("ETag", etagFor(entry));
  headers.set("Cache-Control", FILE_CACHE_CONTROL);
  if (!headers.has("Referrer-Policy")) headers.set("Referrer-Policy", REFERRER_POLICY);
  for (const [name, value] of rules) {
    const lower = name.toLowerCase();
    if (RESERVED.has(lower) || SECURITY.has(lower) || !FIELD_VALUE.test(value)) continue;
    headers.set(name, value);
  }
  setSecurityHeaders(headers);
  return headers;
}

/** @param {Headers} headers */
function setSecurityHeaders(headers) {
  headers.set("X-Content-Type-Options", "nosniff");
  headers.set("Server", SERVER);
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
 * @param {number} status
 * @param {string} [message]
 * @param {Array<[string, string]>} [extra]  the site's robots header, for a live site's missing path
 */
export function page(status, message, extra = []) {
  const headers = new Headers({
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": PAGE_CACHE_CONTROL,
  });
  setSecurityHeaders(headers);
  if (status === 405) headers.set("Allow", ALLOWED_METHODS.join(", ")); // RFC 9110 15.5.6
  for (const [name, value] of extra) headers.set(name, value);
  const body = ENCODER.encode(renderPage(status, message));
  // Said explicitly so a HEAD answer carries it too, as serve/'s does.
  headers.set("Content-Length", String(body.byteLength));
  return new Response(body, { status, headers });
}

/** @param {Array<[string, string]>} [extra] */
export const notFound = (extra) => page(404, undefined, extra);
export const badRequest = () => page(400);
export const methodNotAllowed = () => page(405);

/**
 * 308 by default: like 301 but the method is kept; revalidated, since an alias may move on.
 * @param {string} location
 * @param {number} [status]  a deployment's own rules choose 301, 302, 303, 307 or 308
 * @param {Array<[string, string]>} [extra]  the site's robots header (robots.js)
 */
export function redirect(location, status = 308, extra = []) {
  const headers = new Headers({
    Location: location,
    "Cache-Control": FILE_CACHE_CONTROL,
    "Referrer-Policy": REFERRER_POLICY,
  });
  for (const [name, value] of extra) headers.set(name, value);
  setSecurityHeaders(headers);
  return new Response(null, { status, headers });
}

/**
 * 304 with the fields a 200 would carry for caches (RFC 9110 15.4.5).
 * @param {FileEntry} entry
 * @param {Representation} chosen
 * @param {Array<[string, string]>} [rules]
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
 * @param {Array<[string, string]>} [rules]
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
 * @param {Array<[string, string]>} [rules]
 * @param {ByteRange | null} [range]  answer 206 with these bytes of the (identity) body
 */
export function fileResponse(entry, chosen, body, status = 200, rules, range = null) {
  const headers = fileHeaders(entry, rules);
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
