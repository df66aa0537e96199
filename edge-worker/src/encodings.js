// Choosing a file's representation by Accept-Encoding (mirrors serve/encodings.py,
// which explains the rules: RFC 9110 12.5.3 q-values, `*`, `x-gzip`, identity
// acceptable unless excluded and least wanted unless named; br before gzip at
// equal q; nothing acceptable -> identity). A variant's strong ETag is the
// entry's with `-<coding>` inside the quotes; answers for files with variants
// say `Vary: Accept-Encoding`.
//
// Cloudflare normalizes the Accept-Encoding header a Worker sees (to `br, gzip`
// whatever the client sent) and keeps the client's own value in
// `request.cf.clientAcceptEncoding`: that is the one negotiated here.

/**
 * @typedef {import("./lookup.js").FileEntry} FileEntry
 * @typedef {import("./lookup.js").BlobRef} BlobRef
 * @typedef {{coding: string | null, body: BlobRef, etag: string}} Representation
 */

/** Codings this edge serves, best first (the tie-break at equal q). */
export const SUPPORTED = ["br", "gzip"];

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const QVALUE = /^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$/;
const ALIASES = new Map([["x-gzip", "gzip"]]);

/** @param {string} value  strip only the HTTP whitespace (SP, HTAB), as serve/ does */
export function trimOws(value) {
  return value.replace(/^[ \t]+|[ \t]+$/g, "");
}

/**
 * The Accept-Encoding the client sent: `request.cf.clientAcceptEncoding` on
 * Cloudflare (and in Miniflare), the header itself elsewhere.
 * @param {Request} request
 * @returns {string | null}
 */
export function clientAcceptEncoding(request) {
  const cf = /** @type {any} */ (request).cf;
  if (cf && typeof cf === "object") {
    return typeof cf.clientAcceptEncoding === "string" ? cf.clientAcceptEncoding : null;
  }
  return request.headers.get("Accept-Encoding");
}

/**
 * Coding (lowercase) -> q; elements that do not parse are skipped.
 * @param {string} header
 * @returns {Map<string, number>}
 */
export function acceptedQualities(header) {
  /** @type {Map<string, number>} */
  const qualities = new Map();
  for (const element of header.split(",")) {
    const [name, ...params] = element.split(";");
    let coding = trimOws(name).toLowerCase();
    if (!TOKEN.test(coding)) continue;
    let quality = 1;
    for (const param of params) {
      const at = param.indexOf("=");
      const key = at < 0 ? param : param.slice(0, at);
      if (trimOws(key).toLowerCase() === "q") {
        const value = trimOws(at < 0 ? "" : param.slice(at + 1));
        quality = QVALUE.test(value) ? Number(value) : -1;
      }
    }
    if (quality < 0) continue;
    coding = ALIASES.get(coding) ?? coding;
    if (!qualities.has(coding)) qualities.set(coding, quality);
  }
  return qualities;
}

/**
 * The coding to send from `available`, or null for identity.
 * @param {string | null} header
 * @param {Set<string>} available
 * @returns {string | null}
 */
export function chooseCoding(header, available) {
  if (header === null) return null;
  const qualities = acceptedQualities(header);
  const star = qualities.get("*");
  const quality = (/** @type {string} */ coding) => qualities.get(coding) ?? star ?? 0;
  /** @type {string | null} */
  let best = null;
  for (const coding of SUPPORTED) {
    if (available.has(coding) && quality(coding) > 0) {
      if (best === null || quality(coding) > quality(best)) best = coding;
    }
  }
  if (best === null) return null;
  // Identity not named (neither itself nor by `*`) is acceptable but least wanted.
  const identity = qualities.get("identity") ?? star;
  return identity === undefined || quality(best) >= identity ? best : null;
}

/** @param {FileEntry} entry  True when its answers depend on Accept-Encoding. */
export function varies(entry) {
  return SUPPORTED.some((coding) => entry.encodings.has(coding));
}

/** @param {string} etag @param {string} coding  `"<tag>"` -> `"<tag>-<coding>"` */
export function variantEtag(etag, coding) {
  return `${etag.slice(0, -1)}-${coding}"`;
}

/**
 * The representation to send; `etag` is the entry's (identity) strong ETag.
 * @param {FileEntry} entry
 * @param {string} etag
 * @param {string | null} acceptEncoding
 * @param {boolean} [identityOnly]  a range is answered from identity
 * @returns {Representation}
 */
export function choose(entry, etag, acceptEncoding, identityOnly = false) {
  const available = identityOnly ? new Set() : new Set(entry.encodings.keys());
  const coding = chooseCoding(acceptEncoding, available);
  const variant = coding === null ? undefined : entry.encodings.get(coding);
  if (coding === null || variant === undefined) {
    return { coding: null, body: { blob: entry.blob, size: entry.size }, etag };
  }
  return { coding, body: variant, etag: variantEtag(etag, coding) };
}

/**
 * Set ETag, Content-Encoding and Vary for the chosen representation.
 * @param {Headers} headers
 * @param {FileEntry} entry
 * @param {Representation} chosen
 */
export function representationHeaders(headers, entry, chosen) {
  headers.set("ETag", chosen.etag);
  if (chosen.coding !== null) headers.set("Content-Encoding", chosen.coding);
  if (!varies(entry)) return;
  const value = headers.get("Vary");
  if (value === null) {
    headers.set("Vary", "Accept-Encoding");
    return;
  }
  const fields = new Set(value.split(",").map((part) => trimOws(part).toLowerCase()));
  if (!fields.has("*") && !fields.has("accept-encoding")) headers.set("Vary", `${value}, Accept-Encoding`);
}
