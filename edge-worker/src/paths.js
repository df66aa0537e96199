// URL path -> the manifest entry it names (mirrors serve/paths.py).
//
// SECURITY, the layers that keep a request inside its deployment:
//   1. The raw path is percent-decoded exactly once, as UTF-8; what a second
//      decoding would produce (`%252e%252e` -> `%2e%2e`) stays literal text.
//   2. Control characters (NUL...), backslashes (`\`, `%5c`) and `.`/`..`
//      segments in any spelling are refused with 400.
//   3. Empty segments (`//`) collapse, so a redirect never starts with `//`.
//   4. The result is only ever an exact key of the manifest's `files` map:
//      no object key is built from it.
// The Workers runtime already resolves literal `..`/`%2e%2e` segments in
// request.url (WHATWG URL parsing), so those arrive as a different path inside
// the deployment; the checks here catch every spelling that survives parsing.

export const INDEX = "index.html";
export const NOT_FOUND_PAGE = "/404.html";

/** A request path refused with 400; the message says why. */
export class BadPath extends Error {}

/**
 * @typedef {import("./lookup.js").FileEntry} FileEntry
 * @typedef {import("./lookup.js").Manifest} Manifest
 * @typedef {{segments: string[], directory: boolean}} RequestPath
 * @typedef {{outcome: "file", target: string, entry: FileEntry}
 *   | {outcome: "redirect", target: string}
 *   | {outcome: "not found"}} Resolution
 */

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const ENCODER = new TextEncoder();
const HEX = /^[0-9a-fA-F]{2}$/;

/**
 * Decode and check a raw (still percent-encoded) path; throws BadPath.
 * @param {string} rawPath
 * @returns {RequestPath}
 */
export function parsePath(rawPath) {
  if (!rawPath.startsWith("/")) throw new BadPath("the path must start with '/'");
  let decoded;
  try {
    decoded = UTF8.decode(percentDecode(rawPath));
  } catch {
    throw new BadPath("the path is not UTF-8");
  }
  if (/[\x00-\x1f\x7f]/.test(decoded)) {
    throw new BadPath("the path contains a control character (NUL or similar)");
  }
  if (decoded.includes("\\")) throw new BadPath("the path contains a backslash");
  const parts = decoded.split("/");
  if (parts.some((part) => part === "." || part === "..")) {
    throw new BadPath("the path contains a '.' or '..' segment");
  }
  const segments = parts.filter((part) => part !== "");
  return { segments, directory: decoded.endsWith("/") || segments.length === 0 };
}

/**
 * %XX -> byte, once; a `%` not followed by two hex digits stays literal.
 * @param {string} text
 */
function percentDecode(text) {
  const bytes = [];
  for (let i = 0; i < text.length; ) {
    const pair = text.slice(i + 1, i + 3);
    if (text[i] === "%" && HEX.test(pair)) {
      bytes.push(parseInt(pair, 16));
      i += 3;
      continue;
    }
    const code = text.codePointAt(i) ?? 0;
    const char = String.fromCodePoint(code);
    for (const byte of ENCODER.encode(char)) bytes.push(byte);
    i += char.length;
  }
  return new Uint8Array(bytes);
}

/** @param {RequestPath} path  The manifest key (`/a/b`); `/` for the root. */
export function pathKey(path) {
  return "/" + path.segments.join("/");
}

/**
 * The path re-encoded for a Location header; always starts with one `/`.
 * @param {RequestPath} path
 * @param {boolean} [directory]
 */
export function pathUrl(path, directory) {
  const asDirectory = directory ?? path.directory;
  const encoded = path.segments.map(encodeSegment).join("/");
  return "/" + encoded + (asDirectory && path.segments.length ? "/" : "");
}

// RFC 3986 pchar: encodeURIComponent escapes some that may stay literal.
/** @param {string} segment */
function encodeSegment(segment) {
  return encodeURIComponent(segment).replace(/%(24|26|2B|2C|3B|3D|3A|40)/g, (_m, hex) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/**
 * `/` and `/dir/` serve `index.html` in them; `/dir` redirects to `/dir/` if that exists.
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @returns {Resolution}
 */
export function resolve(manifest, path) {
  const files = manifest.files;
  const key = pathKey(path);
  if (path.directory) {
    const index = join(key, INDEX);
    const entry = files.get(index);
    return entry ? { outcome: "file", target: index, entry } : { outcome: "not found" };
  }
  const entry = files.get(key);
  if (entry) return { outcome: "file", target: key, entry };
  if (files.has(join(key, INDEX))) {
    // Relative links inside dir/index.html resolve against `/dir/`, not `/`.
    return { outcome: "redirect", target: pathUrl(path, true) };
  }
  return { outcome: "not found" };
}

/** @param {Manifest} manifest */
export function notFoundPage(manifest) {
  return manifest.files.get(NOT_FOUND_PAGE) ?? null;
}

/** @param {string} directoryKey @param {string} name */
function join(directoryKey, name) {
  return directoryKey.replace(/\/+$/, "") + "/" + name;
}
