// Byte ranges (mirrors serve/ranges.py, which explains the rules): GET only,
// one `bytes` range (`a-b`, `a-`, `-n`) of the identity body -> 206; a first
// byte past the end or `-0` -> 416; several ranges, bad syntax, another unit,
// an empty body or a failed If-Range (strong comparison with the identity
// ETag) -> the whole body with 200. Numbers are parsed as BigInt and limited
// to 20 digits, so this parse and serve/'s agree on every input.

import { trimOws } from "./encodings.js";

/** @typedef {{start: number, end: number, size: number}} ByteRange  bytes start..end inclusive */

/** A valid range that selects nothing of the body: 416. */
export const UNSATISFIABLE = Object.freeze({ unsatisfiable: true });

const SPEC = /^(?:([0-9]{1,20})-([0-9]{0,20})|-([0-9]{1,20}))$/;
const UNIT = /^bytes=([\s\S]*)$/i;

/** @param {ByteRange} range */
export const contentRange = (range) => `bytes ${range.start}-${range.end}/${range.size}`;

/**
 * The single byte range `header` asks for in a body of `size` bytes; null: ignore it.
 * @param {string} header
 * @param {number} size
 * @returns {ByteRange | typeof UNSATISFIABLE | null}
 */
export function parseRange(header, size) {
  const unit = UNIT.exec(trimOws(header));
  if (unit === null || size === 0) return null;
  const specs = unit[1].split(",").map(trimOws).filter((part) => part !== "");
  if (specs.length !== 1) return null; // none, or several: the whole body
  const spec = SPEC.exec(specs[0]);
  if (spec === null) return null;
  const [, first, last, suffix] = spec;
  const total = BigInt(size);
  if (suffix !== undefined) {
    const length = BigInt(suffix);
    if (length === 0n) return UNSATISFIABLE;
    const start = length >= total ? 0 : size - Number(length);
    return { start, end: size - 1, size };
  }
  const start = BigInt(first);
  if (last !== "" && BigInt(last) < start) return null; // invalid (RFC 9110 14.1.1): ignored
  if (start >= total) return UNSATISFIABLE;
  const end = last !== "" && BigInt(last) < total ? Number(BigInt(last)) : size - 1;
  return { start: Number(start), end, size };
}

/**
 * The range to answer (of the identity body, ETag `etag`), or null for the whole body.
 * @param {string} method
 * @param {string | null} rangeHeader
 * @param {string | null} ifRange
 * @param {string} etag
 * @param {number} size
 */
export function requestedRange(method, rangeHeader, ifRange, etag, size) {
  if (method !== "GET" || rangeHeader === null) return null;
  if (ifRange !== null && trimOws(ifRange) !== etag) return null; // another version: all of it
  return parseRange(rangeHeader, size);
}
