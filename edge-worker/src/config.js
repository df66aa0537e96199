// The Worker's configuration, read once per Env from its bindings and vars
// (the Worker twin of serve/config.py). A bad value is a ConfigError whose
// message names the setting, shown on the 500 page so the operator sees it.

import { isValidLabel } from "./hosts.js";
import { ISOLATE_BYTES, MANIFEST_CACHE_BYTES } from "./memory.js";

/**
 * @typedef {object} Config
 * @property {string} baseDomain          sites are `<label>.<baseDomain>`
 * @property {number} aliasTtlMs          how long an alias answer is reused
 * @property {number} negativeTtlMs       how long "no such alias / manifest" is reused
 * @property {number} manifestCacheBytes  estimated memory for parsed manifests per isolate (memory.js)
 * @property {number | null} manifestCacheEntries optional cap on their number (null: none)
 * @property {number} bodyCacheItemBytes  larger bodies are streamed, not cached
 * @property {number} answerCacheSeconds  whole answers kept in the Cache API (0: none)
 * @property {URL | null} originUrl       where misses are forwarded (null: answered here)
 * @property {number} skewGraceMs         how long an alias's earlier deployments keep
 *   serving their fingerprinted assets after it moved (0: never)
 */

export const DEFAULTS = Object.freeze({
  ALIAS_TTL_SECONDS: 1,
  NEGATIVE_TTL_SECONDS: 1,
  MANIFEST_CACHE_BYTES, // 32 MiB: why, in memory.js
  BODY_CACHE_ITEM_BYTES: 256 * 1024,
  ANSWER_CACHE_SECONDS: 3600,
  SKEW_GRACE_SECONDS: 12 * 3600, // as DP_EDGE_SKEW_GRACE_SECONDS (deploy_platform/contracts/skew.py)
});

/** The Worker cannot serve with this configuration; the message says what to fix. */
export class ConfigError extends Error {}

/**
 * @param {import("./index.js").Env} env
 * @returns {Config}
 */
export function readConfig(env) {
  if (!env.SITES || typeof env.SITES.get !== "function") {
    throw new ConfigError(
      "the R2 bucket binding SITES is missing: add [[r2_buckets]] binding = \"SITES\" to wrangler.toml",
    );
  }
  if (env.ALIASES !== undefined && typeof env.ALIASES?.get !== "function") {
    throw new ConfigError("ALIASES must be a KV namespace binding ([[kv_namespaces]]), or left out");
  }
  if (env.DOMAINS !== undefined && typeof env.DOMAINS?.get !== "function") {
    throw new ConfigError("DOMAINS must be a KV namespace binding ([[kv_namespaces]]), or left out");
  }
  const raw = env.BASE_DOMAIN;
  if (raw === undefined || raw === "") {
    throw new ConfigError(
      "BASE_DOMAIN is not set: add it under [vars] in wrangler.toml (for example \"pages.example.com\")",
    );
  }
  const baseDomain = String(raw).toLowerCase().replace(/\.$/, "");
  if (!baseDomain || !baseDomain.split(".").every(isValidLabel)) {
    throw new ConfigError(
      `BASE_DOMAIN ${JSON.stringify(raw)} is not a DNS name (for example "pages.example.com")`,
    );
  }
  return {
    baseDomain,
    aliasTtlMs: 1000 * number(env, "ALIAS_TTL_SECONDS", { integer: false }),
    negativeTtlMs: 1000 * number(env, "NEGATIVE_TTL_SECONDS", { integer: false }),
    manifestCacheBytes: number(env, "MANIFEST_CACHE_BYTES", { integer: true, max: ISOLATE_BYTES }),
    manifestCacheEntries: optionalCount(env, "MANIFEST_CACHE_ENTRIES"),
    bodyCacheItemBytes: number(env, "BODY_CACHE_ITEM_BYTES", { integer: true }),
    answerCacheSeconds: number(env, "ANSWER_CACHE_SECONDS", { integer: true }),
    originUrl: originUrl(env.ORIGIN_URL, baseDomain),
    skewGraceMs: 1000 * number(env, "SKEW_GRACE_SECONDS", { integer: false }),
  };
}

/**
 * @param {Record<string, unknown>} env
 * @param {keyof typeof DEFAULTS} name
 * @param {{integer: boolean, min?: number, max?: number}} rule
 */
function number(env, name, rule) {
  const raw = env[name];
  if (raw === undefined || raw === "") return DEFAULTS[name];
  return parseNumber(name, raw, rule);
}

/**
 * MANIFEST_CACHE_ENTRIES: like serve/'s DP_EDGE_MANIFEST_CACHE_ENTRIES, an
 * optional extra cap on the number of cached manifests; unset: none (the byte
 * budget alone bounds memory); 0: none are kept in the isolate.
 * @param {Record<string, unknown>} env
 * @param {string} name
 * @returns {number | null}
 */
function optionalCount(env, name) {
  const raw = env[name];
  if (raw === undefined || raw === "") return null;
  return parseNumber(name, raw, { integer: true });
}

/**
 * @param {string} name
 * @param {unknown} raw
 * @param {{integer: boolean, min?: number, max?: number}} rule
 */
function parseNumber(name, raw, { integer, min = 0, max = Infinity }) {
  const value = typeof raw === "number" ? raw : Number(String(raw).trim());
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    const kind = integer ? "a whole number" : "a number";
    throw new ConfigError(`${name} ${JSON.stringify(raw)} must be ${kind} of at least ${min}`);
  }
  if (value > max) {
    throw new ConfigError(
      `${name} ${JSON.stringify(raw)} must be at most ${max} (a Worker isolate has 128 MB for everything)`,
    );
  }
  return value;
}

/**
 * ORIGIN_URL: the edge-origin that answers what R2 cannot (see origin.js), or null.
 * @param {unknown} raw
 * @param {string} baseDomain
 */
function originUrl(raw, baseDomain) {
  if (raw === undefined || raw === "") return null;
  const example = "for example \"https://origin.example.com\"";
  let url;
  try {
    url = new URL(String(raw).trim());
  } catch {
    throw new ConfigError(`ORIGIN_URL ${JSON.stringify(raw)} is not a URL: give the edge-origin's address, ${example}`);
  }
  if (!["http:", "https:"].includes(url.protocol) || url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      `ORIGIN_URL ${JSON.stringify(raw)} must be a plain http(s) URL without credentials, query or fragment, ${example}`,
    );
  }
  if (url.pathname !== "/") {
    throw new ConfigError(`ORIGIN_URL ${JSON.stringify(raw)} must not have a path: requests keep their own, ${example}`);
  }
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (host === baseDomain || host.endsWith(`.${baseDomain}`)) {
    // Such a host is routed to this Worker (wrangler.toml's routes), not to the origin.
    throw new ConfigError(
      `ORIGIN_URL ${JSON.stringify(raw)} is under BASE_DOMAIN ${baseDomain}, whose hosts this Worker serves: ` +
        `give the origin a host of its own, ${example}`,
    );
  }
  return url;
}
