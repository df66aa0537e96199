// Host -> the site it names, as pure functions (mirrors serve/hosts.py).
//
// Hosts under the base domain D: `<id>.D` (one immutable deployment),
// `<project>.D` (production alias), `<branch-slug>--<project>.D` (preview).
// Any other well-formed DNS name (two labels or more, not an IP address) may be
// a custom domain mapped to a project: a lookup decides.
// Everything else names no site and gets the platform's 404 page: the bare base
// domain, nested subdomains of D, single labels, IP literals, malformed names,
// labels longer than 63 characters. A look-alike suffix (`evilD` is not under
// `D`) is only ever looked up as a custom domain, never as a site of D.
// The host is always the request URL's (Cloudflare sets it from the visitor's
// Host); X-Forwarded-Host is never read here.

export const MAX_LABEL = 63;
const MAX_PROJECT_NAME = 32;
const MAX_HOST = 253;
const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const PROJECT_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const ID_RE = /^(?=[a-z2-7]*[2-7])[a-z2-7]{12}$/;
const HOST_CHARS = /^[a-z0-9.-]+$/;
const PORT = /^[0-9]{1,5}$/;
// A slug in the form deploy_platform.contracts.names.branch_slug() produces.
const SLUG_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** @typedef {{kind: "deployment" | "alias" | "domain", name: string}} Site */

/** @param {string} value */
export function isDeploymentId(value) {
  return ID_RE.test(value);
}

/** @param {string} label */
export function isValidLabel(label) {
  return LABEL_RE.test(label);
}

/**
 * Lowercase, without port or one trailing dot; null unless an ASCII DNS name.
 * @param {string | null | undefined} raw
 * @returns {string | null}
 */
export function normalizeHost(raw) {
  if (!raw) return null;
  // SECURITY: refuse non-ASCII before lowercasing (some non-ASCII letters
  // lowercase onto ASCII ones); IDNA names arrive as `xn--` labels.
  if (!/^[\x00-\x7f]*$/.test(raw)) return null;
  let host = raw.toLowerCase();
  if (host.startsWith("[")) return null; // an IPv6 literal is never a site
  const colon = host.lastIndexOf(":");
  if (colon >= 0) {
    if (!PORT.test(host.slice(colon + 1))) return null;
    host = host.slice(0, colon);
  }
  if (host.endsWith(".")) host = host.slice(0, -1);
  if (!host || host.length > MAX_HOST || !HOST_CHARS.test(host)) return null;
  if (!host.split(".").every(isValidLabel)) return null;
  return host;
}

/**
 * The site a host names under `baseDomain` (already normalized), or null.
 * @param {string | null | undefined} rawHost
 * @param {string} baseDomain
 * @returns {Site | null}
 */
export function siteForHost(rawHost, baseDomain) {
  const host = normalizeHost(rawHost);
  if (host === null) return null;
  // SECURITY: the suffix includes the dot, so `evilD` is not under `D`, and
  // the bare base domain (no label in front) is no site.
  const suffix = "." + baseDomain;
  if (!host.endsWith(suffix)) {
    return host !== baseDomain && isCustomHostname(host) ? { kind: "domain", name: host } : null;
  }
  const label = host.slice(0, -suffix.length);
  if (label.includes(".")) return null; // nested subdomains name nothing
  return siteForLabel(label);
}

/**
 * A normalized name shaped like a custom domain: two labels or more, and an
 * all-digit last label is never a top-level domain (so no IPv4 address).
 * @param {string} host
 */
export function isCustomHostname(host) {
  if (!host || host.length > MAX_HOST) return false;
  const labels = host.split(".");
  return labels.length >= 2 && !/^[0-9]+$/.test(labels[labels.length - 1]) && labels.every(isValidLabel);
}

/**
 * @param {string} label
 * @returns {Site | null}
 */
export function siteForLabel(label) {
  if (!label || label.length > MAX_LABEL || !isValidLabel(label)) return null;
  if (isDeploymentId(label)) return { kind: "deployment", name: label };
  if (isAliasName(label)) return { kind: "alias", name: label };
  return null;
}

/**
 * `<project>` or `<branch-slug>--<project>`; checking the shape first means a
 * random label never costs a KV or R2 read.
 * @param {string} label
 */
export function isAliasName(label) {
  const at = label.indexOf("--");
  if (at < 0) return isProjectName(label);
  const slug = label.slice(0, at);
  const project = label.slice(at + 2);
  return SLUG_RE.test(slug) && isProjectName(project);
}

/** @param {string} name */
export function isProjectName(name) {
  return (
    name.length > 0 &&
    name.length <= MAX_PROJECT_NAME &&
    PROJECT_RE.test(name) &&
    !isDeploymentId(name)
  );
}
