// URL path -> the manifest entry it names (mirrors serve/paths.py).
//
// SECURITY, the layers that keep a request inside its deployment:
//   1. The raw path is percent-decoded exactly once, as UTF-8; what a second
//      decoding would produce (`%252e%252e` -> `%2e%2e`) stays literal text.
//   2. Control characters (NUL, tab...) and `.`/`..` segments in any spelling
//      are refused with 400. A backslash is an ordinary character of a name.
//   3. Empty segments (`//`) collapse for the lookup; a redirect built from the
//      path as sent has its leading run of slashes, backslashes and blanks cut to
//      one `/` (sameOriginLocation), so it never leaves the host.
//   4. The result is only ever an exact key of the manifest's `files` map:
//      no object key is built from it.
// The Workers runtime already resolves literal `..`/`%2e%2e` segments in
// request.url (WHATWG URL parsing), so those arrive as a different path inside
// the deployment; the checks here catch every spelling that survives parsing.
//
// HTML FILES AND THEIR URLS, as Cloudflare Pages decides (serve/paths.py has the
// table): `/P/` serves P/index.html, `/P/index/` -> 308 `/P/`, `/P/` -> 308 `/P`
// when P.html exists; a file is served, but `/P.html` -> 308 `/P` (unless a file
// `/P` exists) and `/P/index.html` -> 308 `/P/`; `/P/index` -> 308 `/P/`; `/P`
// serves P.html; `/P` -> 308 `/P/` when P/index.html exists.
// A PATH THAT NAMES NO FILE gets the nearest 404.html (404); in a single-page
// app (/index.html, no /404.html) /index.html with 200, except for fingerprinted
// assets and names with an extension other than .html/.htm; else the platform's 404.

import { isFingerprinted } from "./fingerprint.js";

export const INDEX = "index.html";
export const NOT_FOUND_NAME = "404.html";
export const MAX_404_DEPTH = 32;
const HTML = ".html";
const INDEX_NAME = "index";
const INDEX_DIRECTORY = "index/";
// Pages cuts these from the start of a redirect's location; the blanks are `\s`
// spelled out, the same list as serve/paths.py.
const LEADING_SLASHES =
  /^(?:\/|%2[Ff]|%5[Cc]|%09|\\|[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff])+/;
const PAGE_EXTENSIONS = new Set(["html", "htm"]);

/** A request path refused with 400; the message says why. */
export class BadPath extends Error {}

/**
 * @typedef {import("./lookup.js").FileEntry} FileEntry
 * @typedef {import("./lookup.js").Manifest} Manifest
 * @typedef {{segments: string[], directory: boolean, decoded?: string}} RequestPath
 * @typedef {{outcome: "file", target: string, entry: FileEntry}
 *   | {outcome: "redirect", target: string}
 *   | {outcome: "not found"}} Resolution
 * @typedef {{key: string, entry: FileEntry, status: number}} Fallback
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
  const parts = decoded.split("/");
  if (parts.some((part) => part === "." || part === "..")) {
    throw new BadPath("the path contains a '.' or '..' segment");
  }
  const segments = parts.filter((part) => part !== "");
  return { segments, directory: decoded.endsWith("/") || segments.length === 0, decoded };
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
 * The file `path` names, or where it redirects: Pages' rules (see above).
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @returns {Resolution}
 */
export function resolve(manifest, path) {
  const files = manifest.files;
  const key = pathKey(path);
  const sent = path.decoded || pathUrl(path);
  if (path.directory) {
    const index = join(key, INDEX);
    if (files.has(index)) return fileOf(files, index);
    if (sent.endsWith("/" + INDEX_DIRECTORY)) return redirectTo(sent.slice(0, -INDEX_DIRECTORY.length));
    if (path.segments.length && files.has(key + HTML)) return redirectTo(sent.replace(/\/+$/, ""));
    return { outcome: "not found" };
  }
  if (files.has(key)) {
    if (!key.endsWith(HTML)) return fileOf(files, key);
    const stem = key.slice(0, -HTML.length);
    const sentStem = sent.slice(0, -HTML.length);
    if (stem.endsWith("/" + INDEX_NAME)) return redirectTo(sentStem.slice(0, -INDEX_NAME.length));
    if (files.has(stem) || stem === "/" || stem.endsWith("/.") || stem.endsWith("/..")) {
      // Both stay reachable; `/..html` would lead to `/.` (Pages' answer), no URL.
      return fileOf(files, key);
    }
    return redirectTo(sentStem);
  }
  if (sent.endsWith("/" + INDEX_NAME)) return redirectTo(sent.slice(0, -INDEX_NAME.length));
  if (files.has(key + HTML)) return fileOf(files, key + HTML);
  if (files.has(join(key, INDEX))) return redirectTo(sent + "/");
  return { outcome: "not found" };
}

/**
 * A decoded path made a Location that stays on this host: the leading run of
 * slashes, backslashes and blanks becomes one `/`, the rest is percent-encoded.
 * @param {string} decoded
 */
export function sameOriginLocation(decoded) {
  const stripped = "/" + decoded.replace(LEADING_SLASHES, "");
  return stripped.split("/").map(encodeSegment).join("/");
}

/** @param {Map<string, FileEntry>} files @param {string} key @returns {Resolution} */
function fileOf(files, key) {
  return { outcome: "file", target: key, entry: /** @type {FileEntry} */ (files.get(key)) };
}

/** @param {string} decoded @returns {Resolution} */
function redirectTo(decoded) {
  return { outcome: "redirect", target: sameOriginLocation(decoded) };
}

/**
 * The first file of the lookup order that exists, without any redirect (what a
 * rewrite's destination serves: `/app/index.html` is that file).
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @returns {[string, FileEntry] | null}
 */
export function findFile(manifest, path) {
  const key = pathKey(path);
  let candidates;
  if (path.directory) {
    candidates = path.segments.length ? [join(key, INDEX), key + HTML] : [join(key, INDEX)];
  } else {
    candidates = [key, key + HTML, join(key, INDEX)];
  }
  for (const candidate of candidates) {
    const entry = manifest.files.get(candidate);
    if (entry) return [candidate, entry];
  }
  return null;
}

/**
 * What answers a path that names no file; null: the platform's 404 page.
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @returns {Fallback | null}
 */
export function fallbackFor(manifest, path) {
  const directories = path.directory ? path.segments : path.segments.slice(0, -1);
  for (let depth = Math.min(directories.length, MAX_404_DEPTH); depth >= 0; depth--) {
    const key = "/" + [...directories.slice(0, depth), NOT_FOUND_NAME].join("/");
    const entry = manifest.files.get(key);
    if (entry) return { key, entry, status: 404 };
  }
  const index = manifest.files.get("/" + INDEX);
  if (!index || namesAFile(path)) return null;
  // No 404.html at the top (else the loop found one): a single-page app.
  return { key: "/" + INDEX, entry: index, status: 200 };
}

/**
 * A fingerprinted asset or a name with an extension other than .html/.htm.
 * @param {RequestPath} path
 */
export function namesAFile(path) {
  if (path.directory) return false;
  if (isFingerprinted(pathKey(path))) return true;
  const name = path.segments[path.segments.length - 1];
  const dot = name.lastIndexOf(".");
  const extension = dot >= 0 ? name.slice(dot + 1) : "";
  return extension !== "" && !PAGE_EXTENSIONS.has(extension.toLowerCase());
}

/** @param {string} directoryKey @param {string} name */
function join(directoryKey, name) {
  return directoryKey.replace(/\/+$/, "") + "/" + name;
}
