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
//
// ONE URL PER FILE, as on Cloudflare Pages (serve/paths.py explains it in full):
//   /index.html, /dir/index.html -> /, /dir/;  /about.html -> /about;  else its path.
// `/P` looks for /P, /P.html, /P/index.html; `/P/` for /P/index.html, /P.html.
// The file found is served when the request is its one URL, else 308 there. A
// file's URL finds that same file, so no loop; `/x` and `/x.html` both files
// keep their own names.
// A PATH THAT NAMES NO FILE gets the nearest 404.html (404); in a single-page
// app (/index.html, no /404.html) /index.html with 200, except for fingerprinted
// assets and names with an extension other than .html/.htm; else the platform's 404.

import { isFingerprinted } from "./fingerprint.js";

export const INDEX = "index.html";
export const NOT_FOUND_NAME = "404.html";
export const MAX_404_DEPTH = 32;
const HTML = ".html";
const PAGE_EXTENSIONS = new Set(["html", "htm"]);

/** A request path refused with 400; the message says why. */
export class BadPath extends Error {}

/**
 * @typedef {import("./lookup.js").FileEntry} FileEntry
 * @typedef {import("./lookup.js").Manifest} Manifest
 * @typedef {{segments: string[], directory: boolean}} RequestPath
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
 * The file `path` names, served at its one URL or redirected there.
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @returns {Resolution}
 */
export function resolve(manifest, path) {
  const found = findFile(manifest, path);
  if (found === null) return { outcome: "not found" };
  const [key, entry] = found;
  const canonical = canonicalPath(manifest, key);
  if (!samePath(canonical, path)) return { outcome: "redirect", target: pathUrl(canonical) };
  return { outcome: "file", target: key, entry };
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
 * The one URL the file `key` is served at; findFile finds `key` first for it.
 * @param {Manifest} manifest
 * @param {string} key
 * @returns {RequestPath}
 */
export function canonicalPath(manifest, key) {
  const segments = key.split("/").slice(1);
  const name = segments[segments.length - 1];
  if (name === INDEX) return { segments: segments.slice(0, -1), directory: true };
  const stem = name.slice(0, -HTML.length);
  if (name.endsWith(HTML) && stem !== "" && stem !== "." && stem !== "..") {
    const clean = { segments: [...segments.slice(0, -1), stem], directory: false };
    // The no-loop promise: the clean URL only when no file sits at it.
    if (!manifest.files.has(pathKey(clean))) return clean;
  }
  return { segments, directory: false };
}

/** @param {RequestPath} a @param {RequestPath} b */
function samePath(a, b) {
  return (
    a.directory === b.directory &&
    a.segments.length === b.segments.length &&
    a.segments.every((segment, index) => segment === b.segments[index])
  );
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
