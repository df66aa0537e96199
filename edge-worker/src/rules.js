// A deployment's redirects, rewrites and header rules (mirrors serve/rules.py and
// deploy_platform/contracts/routing/, the matching half). Rules were checked at publish
// time; they are compiled when the manifest is read, so they are cached with it.
//
// Two syntaxes, one per rule (`pages` in the manifest):
//   - Pages rules (`_redirects`, `_headers`) match as Cloudflare Pages matches them
//     (pages-shared asset-server rulesEngine.ts / handler.ts): against the URL's
//     pathname, still percent-encoded, exactly (no trailing-slash folding), or
//     `https://<host><pathname>` for a rule that names a host; `*` captures `splat`,
//     `:name` one segment (a host label in a host). They apply before files.
//   - canonical rules (netlify.toml, vercel.json, deployments published before Pages
//     parity): the decoded path, trailing slash ignored, Netlify's shadowing: a path
//     that finds a file is served as it is unless a *forced* rule matches.
// The first matching redirect wins; then the 404.html / single-page-app fallback.
//   301/302/303/307/308  redirect; Pages rules write the Location as Pages does
//   200                  the destination's file in place
//   404                  the destination's file with status 404 (netlify.toml)
// A rewrite is never followed by another rule, and its destination is parsed
// like a request path and served as a file (findFile: `/app/index.html` is that
// file, never a redirect). Header rules follow the requested URL.

import { findFile, parsePath, pathKey, pathUrl, resolve } from "./paths.js";

/**
 * @typedef {import("./paths.js").RequestPath} RequestPath
 * @typedef {import("./paths.js").Resolution} Resolution
 * @typedef {import("./lookup.js").Manifest} Manifest
 * @typedef {{regex: RegExp, groups: Array<[string, string]>}} Pattern
 * @typedef {{regex: RegExp, crossHost: boolean}} PagesPattern
 * @typedef {{pattern: Pattern | PagesPattern, destination: string, status: number, force: boolean, pages: boolean}} Redirect
 * @typedef {{pattern: Pattern | PagesPattern, headers: Array<[string, string]>, detach: string[], pages: boolean}} HeaderRule
 * @typedef {{redirects: Redirect[], headers: HeaderRule[]}} Routes
 * @typedef {{host?: string, pathname?: string}} RequestInfo  the request's Host and URL pathname
 * @typedef {{key: string, pathname: string, host: string, hostname: string}} RuleRequest
 * @typedef {{set: Array<[string, string]>, unset: string[]}} HeaderChanges
 * @typedef {{action: "none", resolution: Resolution, status: number}
 *   | {action: "serve", resolution: Resolution, status: number}
 *   | {action: "redirect", status: number, location: string}} RuleDecision
 */

// Headers no rule may set or remove: they frame the body on the connection (see
// deploy_platform/contracts/routing/errors.py). Every other header, the platform's
// defaults included, is the site's to change, as on Pages.
export const PROTECTED_HEADERS = new Set([
  "content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive",
  "proxy-connection", "upgrade", "trailer", "te",
]);

/** A stored rule that cannot be compiled: the platform, not the visitor, erred. */
export class BadRoutes extends Error {}

const PARAM = /^:((?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+))([?*+]?)$/;
const DEST_PARAM = /:([A-Za-z0-9_]+)/g;

/** @param {string} text */
function escapeRegex(text) {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** @param {string} path */
function trim(path) {
  return path.replace(/\/+$/, "") || "/";
}

/**
 * Canonical pattern (`/:name`, `/:name?`, `/:name*`, `/:name+`, `*`) -> regex.
 * @param {string} source
 * @returns {Pattern}
 */
export function compilePattern(source) {
  if (typeof source !== "string" || !source.startsWith("/")) {
    throw new BadRoutes(`rule source ${JSON.stringify(source)} does not start with '/'`);
  }
  const segments = trim(source).split("/").slice(1);
  /** @type {string[]} */
  const parts = [];
  /** @type {Array<[string, string]>} */
  const groups = [];
  const group = (/** @type {string} */ name) => {
    const regexName = `g${groups.length}`;
    groups.push([regexName, name]);
    return regexName;
  };
  segments.forEach((segment, index) => {
    if (segment === "") return;
    const last = index === segments.length - 1;
    const param = PARAM.exec(segment);
    if (param) {
      const [, name, modifier] = param;
      const g = group(name);
      if (modifier === "*" || modifier === "+") {
        if (!last) throw new BadRoutes(`${segment} must end the pattern ${source}`);
        const body = `(?<${g}>[^/]+(?:/[^/]+)*)`;
        parts.push(modifier === "*" ? `(?:/${body})?` : `/${body}`);
      } else if (modifier === "?") {
        parts.push(`(?:/(?<${g}>[^/]+))?`);
      } else {
        parts.push(`/(?<${g}>[^/]+)`);
      }
      return;
    }
    if (segment.includes("*")) {
      const [before, after] = segment.split("*");
      parts.push("/" + escapeRegex(before) + `(?<${group("splat")}>.*)` + escapeRegex(after ?? ""));
      return;
    }
    parts.push("/" + escapeRegex(segment));
  });
  let regex = "^" + (parts.join("") || "/") + "$";
  if (!parts.length) regex = "^/$";
  else if (regex.startsWith("^(?:/")) regex = "^(?:/|" + regex.slice(1, -1) + ")$";
  return { regex: new RegExp(regex), groups };
}

/**
 * @param {Pattern} pattern
 * @param {string} path
 * @returns {Record<string, string> | null}
 */
function matchPattern(pattern, path) {
  const found = pattern.regex.exec(trim(path));
  if (!found) return null;
  /** @type {Record<string, string>} */
  const params = {};
  for (const [g, name] of pattern.groups) params[name] = found.groups?.[g] ?? "";
  return params;
}

// Python's quote(value, safe="/!$&'()*+,;=:@-._~"): encodeURIComponent escapes
// some of these, which are put back.
/** @param {string} value */
function quoteValue(value) {
  return encodeURIComponent(value).replace(/%(2F|24|26|2B|2C|3B|3D|3A|40)/g, (_m, hex) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/** @param {string} template @param {Record<string, string>} params */
function fill(template, params) {
  return template.replace(DEST_PARAM, (whole, name) =>
    Object.hasOwn(params, name) ? quoteValue(params[name]) : whole,
  );
}

// -- Pages rules ------------------------------------------------------------------------

const ESCAPE = /[-/\\^$*+?.()|[\]{}]/g;
const HOST_PLACEHOLDER = /(?<=^https:\\\/\\\/[^/]*?):([^\\]+)(?=\\)/g;
const PAGES_PLACEHOLDER = /:([A-Za-z0-9_]+)/g;
const HAS_HOST = /^https:\/+([^/]+)/;

/**
 * A Pages rule's source -> its matcher, or null where the regex cannot be built (two
 * `*`, a name used twice, a name that is not a word): such a rule never matches on Pages.
 * @param {string} source
 * @returns {PagesPattern | null}
 */
export function compilePagesPattern(source) {
  const crossHost = source.startsWith("https://");
  let text = source.split("*").map((part) => part.replace(ESCAPE, "\\$&")).join("(?<splat>.*)");
  // In a host a placeholder stops at a dot: `https://:sub.example.com/`.
  for (const found of text.matchAll(HOST_PLACEHOLDER)) {
    text = text.split(found[0]).join(`(?<${found[1]}>[^/.]+)`);
  }
  for (const found of text.matchAll(PAGES_PLACEHOLDER)) {
    text = text.split(found[0]).join(`(?<${found[1]}>[^/]+)`);
  }
  try {
    return { regex: new RegExp(`^${text}$`), crossHost };
  } catch {
    return null;
  }
}

/**
 * @param {PagesPattern} pattern
 * @param {RuleRequest} request
 * @returns {Record<string, string> | null}
 */
function matchPages(pattern, request) {
  const subject = pattern.crossHost ? `https://${request.hostname}${request.pathname}` : request.pathname;
  const found = pattern.regex.exec(subject);
  return found ? { ...(found.groups ?? {}) } : null;
}

/** Every `:name` -> its capture, in the pattern's order (Pages' replacer). */
function replacePlaceholders(/** @type {string} */ template, /** @type {Record<string, string>} */ params) {
  for (const [name, value] of Object.entries(params)) template = template.replaceAll(`:${name}`, value ?? "");
  return template;
}

/** @param {string} host  a Host header -> lowercase, without its port or a trailing dot */
function hostnameOf(host) {
  host = host.trim().toLowerCase();
  if (host.startsWith("[")) return host.split("]")[0] + "]";
  return (host.split(":").length === 2 ? host.split(":")[0] : host).replace(/\.+$/, "");
}

/**
 * The Location Pages writes for a redirect to `destination` (placeholders filled):
 * the path, the destination's query or else the request's, its fragment; after
 * `https://host` when the host is another.
 * @param {string} destination
 * @param {string} host  the request's Host
 * @param {string} query  the request's query string, without `?`
 */
export function pagesLocation(destination, host, query) {
  const absolute = HAS_HOST.test(destination);
  // A capture that begins with `/` must not turn the path into another host.
  if (!absolute && destination.startsWith("//")) destination = "/" + destination.replace(/^\/+/, "");
  const url = new URL(destination, "https://placeholder.invalid/");
  const search = query ? new URL(`https://placeholder.invalid/?${query}`).search : "";
  const tail = url.pathname + (url.search || search) + url.hash;
  // The edge may listen on another port behind TLS: the request's port says nothing.
  if (!absolute || url.host === hostnameOf(host)) {
    // A path starting with `//` would name another host to the browser.
    return tail.startsWith("//") ? "/" + tail.replace(/^\/+/, "") : tail;
  }
  return `https://${url.host}${tail}`;
}

/** The path a Pages `200` rule serves: its destination's path alone. */
export function rewritePathname(/** @type {string} */ destination) {
  return new URL("/" + destination.replace(/^\/+/, ""), "https://placeholder.invalid/").pathname;
}

/**
 * @param {RequestPath} path
 * @param {RequestInfo} request
 * @returns {RuleRequest}
 */
function ruleRequest(path, request) {
  const host = request.host ?? "";
  return { key: pathKey(path), pathname: request.pathname || pathUrl(path), host, hostname: hostnameOf(host) };
}

/**
 * @param {Redirect | HeaderRule} rule
 * @param {RuleRequest} request
 */
function matchRule(rule, request) {
  return rule.pages
    ? matchPages(/** @type {PagesPattern} */ (rule.pattern), request)
    : matchPattern(/** @type {Pattern} */ (rule.pattern), request.key);
}

/** @param {any} source */
function pagesPattern(source) {
  const pattern = typeof source === "string" ? compilePagesPattern(source) : null;
  if (!pattern) throw new BadRoutes(`Pages rule source ${JSON.stringify(source)} cannot be compiled`);
  return pattern;
}

/**
 * The manifest's `routes` (deploy_platform.contracts.routing.Routes.to_json) compiled.
 * @param {any} raw
 * @returns {Routes | null}
 */
export function compileRoutes(raw) {
  if (!raw) return null;
  if (typeof raw !== "object") throw new BadRoutes("routes is not an object");
  const redirects = (raw.redirects ?? []).map((/** @type {any} */ rule) => {
    const status = Number(rule.status);
    if (typeof rule.destination !== "string" || !Number.isInteger(status)) {
      throw new BadRoutes(`redirect rule ${JSON.stringify(rule)} is malformed`);
    }
    const pages = rule.pages === true;
    const pattern = pages ? pagesPattern(rule.source) : compilePattern(rule.source);
    return { pattern, destination: rule.destination, status, force: Boolean(rule.force), pages };
  });
  const headers = (raw.headers ?? []).map((/** @type {any} */ rule) => ({
    pattern: rule.pages === true ? pagesPattern(rule.source) : compilePattern(rule.source),
    headers: (rule.headers ?? []).map((/** @type {any} */ pair) => [String(pair[0]), String(pair[1])]),
    detach: (rule.detach ?? []).map(String),
    pages: rule.pages === true,
  }));
  if (!redirects.length && !headers.length) return null;
  return { redirects, headers };
}

/**
 * What the deployment's rules make of `path` (already resolved against its files).
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @param {string} query  the raw query string, without `?`
 * @param {RequestInfo} [request]  `{host: url.host, pathname: url.pathname}`
 * @returns {RuleDecision}
 */
export function applyRules(manifest, path, query, request = {}) {
  const resolution = resolve(manifest, path);
  const routes = manifest.routes;
  if (!routes || !routes.redirects.length) return { action: "none", resolution, status: 200 };
  const forcedOnly = resolution.outcome !== "not found";
  const info = ruleRequest(path, request);
  for (const rule of routes.redirects) {
    if (forcedOnly && !rule.force && !rule.pages) continue;
    const params = matchRule(rule, info);
    if (params === null) continue;
    let target = rule.pages ? replacePlaceholders(rule.destination, params) : fill(rule.destination, params);
    if (rule.status !== 200 && rule.status !== 404) {
      if (rule.pages) return { action: "redirect", status: rule.status, location: pagesLocation(target, info.host, query) };
      if (query && !target.includes("?")) target = `${target}?${query}`;
      return { action: "redirect", status: rule.status, location: target };
    }
    // Parsing the destination again keeps the path checks between a rule and the files.
    const destination = findFile(manifest, parsePath(rule.pages ? rewritePathname(target) : target));
    /** @type {Resolution} */
    const served = destination
      ? { outcome: "file", target: destination[0], entry: destination[1] }
      : { outcome: "not found" };
    return { action: "serve", resolution: served, status: rule.status };
  }
  return { action: "none", resolution, status: 200 };
}

/**
 * What the header rules do for the requested URL: every matching rule in order, its
 * removals then its headers; a name set by an earlier rule gets the value appended
 * (", "). `set` replaces the platform's header of that name; `unset` (lowercase, from
 * `! Name` in `_headers`) removes it first (applyHeaderChanges).
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @param {RequestInfo} [request]
 * @returns {HeaderChanges}
 */
export function ruleHeaderChanges(manifest, path, request = {}) {
  const routes = manifest.routes;
  if (!routes || !routes.headers.length) return { set: [], unset: [] };
  const info = ruleRequest(path, request);
  /** @type {Map<string, [string, string]>} lowercase name -> [spelling, value] */
  const values = new Map();
  const unset = new Set();
  for (const rule of routes.headers) {
    const params = matchRule(rule, info);
    if (params === null) continue;
    for (const name of rule.detach) {
      values.delete(name.toLowerCase());
      if (rule.pages) unset.add(name.toLowerCase());
    }
    for (const [name, raw] of rule.headers) {
      const lower = name.toLowerCase();
      if (PROTECTED_HEADERS.has(lower)) continue;
      const value = rule.pages ? replacePlaceholders(raw, params) : raw;
      const existing = values.get(lower);
      values.set(lower, existing ? [existing[0], `${existing[1]}, ${value}`] : [name, value]);
    }
  }
  return {
    set: [...values.values()],
    unset: [...unset].filter((name) => !PROTECTED_HEADERS.has(name)),
  };
}

/**
 * Headers the deployment's header rules set for the requested URL, in order.
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @param {RequestInfo} [request]
 * @returns {Array<[string, string]>}
 */
export function ruleHeaders(manifest, path, request = {}) {
  return ruleHeaderChanges(manifest, path, request).set;
}

/**
 * `base` (the platform's headers) with the rules' changes: removals, then each set
 * header replaces the base's of that name (names compare case-insensitively).
 * @param {Array<[string, string]>} base
 * @param {HeaderChanges} changes
 * @returns {Array<[string, string]>}
 */
export function applyHeaderChanges(base, changes) {
  const replaced = new Set(changes.set.map(([name]) => name.toLowerCase()));
  const unset = new Set(changes.unset);
  const kept = base.filter(([name]) => !unset.has(name.toLowerCase()) && !replaced.has(name.toLowerCase()));
  return [...kept, ...changes.set];
}
