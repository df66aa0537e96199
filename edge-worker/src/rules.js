// A deployment's redirects, rewrites and header rules (mirrors serve/rules.py and
// deploy_platform/contracts/routing.py, the matching half). Rules were checked at publish
// time; they are compiled when the manifest is read, so they are cached with it.
//
// A path that finds a file (paths.js lookup order: `/about` finds about.html) is
// served, or redirected to the file's one URL, as it is unless a *forced* rule
// matches; other paths take the first matching rule, and only then the
// 404.html / single-page-app fallback.
//   301/302/303/307/308  redirect; the query string is kept unless the destination has one
//   200                  the destination's file in place
//   404                  the destination's file with status 404
// A rewrite is never followed by another rule, and its destination is parsed
// like a request path and served as a file (findFile: `/app/index.html` is that
// file, never a redirect). Header rules follow the requested path.

import { findFile, parsePath, pathKey, resolve } from "./paths.js";

/**
 * @typedef {import("./paths.js").RequestPath} RequestPath
 * @typedef {import("./paths.js").Resolution} Resolution
 * @typedef {import("./lookup.js").Manifest} Manifest
 * @typedef {{regex: RegExp, groups: Array<[string, string]>}} Pattern
 * @typedef {{pattern: Pattern, destination: string, status: number, force: boolean}} Redirect
 * @typedef {{pattern: Pattern, headers: Array<[string, string]>, detach: string[]}} HeaderRule
 * @typedef {{redirects: Redirect[], headers: HeaderRule[]}} Routes
 * @typedef {{action: "none", resolution: Resolution, status: number}
 *   | {action: "serve", resolution: Resolution, status: number}
 *   | {action: "redirect", status: number, location: string}} RuleDecision
 */

export const PROTECTED_HEADERS = new Set([
  "content-type", "content-length", "content-encoding", "transfer-encoding", "etag",
  "connection", "keep-alive", "upgrade", "trailer", "location", "server",
  "x-content-type-options",
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
    return { pattern: compilePattern(rule.source), destination: rule.destination, status, force: Boolean(rule.force) };
  });
  const headers = (raw.headers ?? []).map((/** @type {any} */ rule) => ({
    pattern: compilePattern(rule.source),
    headers: (rule.headers ?? []).map((/** @type {any} */ pair) => [String(pair[0]), String(pair[1])]),
    detach: (rule.detach ?? []).map(String),
  }));
  if (!redirects.length && !headers.length) return null;
  return { redirects, headers };
}

/**
 * What the deployment's rules make of `path` (already resolved against its files).
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @param {string} query  the raw query string, without `?`
 * @returns {RuleDecision}
 */
export function applyRules(manifest, path, query) {
  const resolution = resolve(manifest, path);
  const routes = manifest.routes;
  if (!routes || !routes.redirects.length) return { action: "none", resolution, status: 200 };
  const forcedOnly = resolution.outcome !== "not found";
  const key = pathKey(path);
  for (const rule of routes.redirects) {
    if (forcedOnly && !rule.force) continue;
    const params = matchPattern(rule.pattern, key);
    if (params === null) continue;
    let target = fill(rule.destination, params);
    if (rule.status !== 200 && rule.status !== 404) {
      if (query && !target.includes("?")) target = `${target}?${query}`;
      return { action: "redirect", status: rule.status, location: target };
    }
    // Parsing the destination again keeps the path checks between a rule and the files.
    const destination = findFile(manifest, parsePath(target));
    /** @type {Resolution} */
    const served = destination
      ? { outcome: "file", target: destination[0], entry: destination[1] }
      : { outcome: "not found" };
    return { action: "serve", resolution: served, status: rule.status };
  }
  return { action: "none", resolution, status: 200 };
}

/**
 * Headers the deployment's header rules set for the requested path, in order;
 * a repeated name joins values with ", ", `! Name` removes earlier ones.
 * @param {Manifest} manifest
 * @param {RequestPath} path
 * @returns {Array<[string, string]>}
 */
export function ruleHeaders(manifest, path) {
  const routes = manifest.routes;
  if (!routes || !routes.headers.length) return [];
  const key = pathKey(path);
  /** @type {Map<string, [string, string]>} lowercase name -> [spelling, value] */
  const result = new Map();
  for (const rule of routes.headers) {
    if (matchPattern(rule.pattern, key) === null) continue;
    for (const name of rule.detach) result.delete(name.toLowerCase());
    for (const [name, value] of rule.headers) {
      const existing = result.get(name.toLowerCase());
      result.set(name.toLowerCase(), existing ? [existing[0], `${existing[1]}, ${value}`] : [name, value]);
    }
  }
  return [...result.entries()].filter(([lower]) => !PROTECTED_HEADERS.has(lower)).map(([, pair]) => pair);
}
