// Skew protection (mirrors serve/skew.py and deploy_platform/contracts/skew.py): when the
// current deployment of an alias host or custom domain lacks a fingerprinted
// file, the deployments the alias pointed at before are asked, newest first,
// while `now < replaced_at + SKEW_GRACE_SECONDS`. The alias pointer records them:
//   {"deployment": "<id>", ..., "history": [{"deployment": "<id>", "replaced_at": 1700000300.0}]}
// Pointers without `history` (written before it existed) simply have none.
// Never for deployment-id hosts, never for other paths.

import { isFingerprinted } from "./fingerprint.js";
import { isDeploymentId } from "./hosts.js";
import { BrokenSite } from "./lookup.js";
import { pathKey } from "./paths.js";
import { IMMUTABLE_CACHE_CONTROL } from "./responses.js";
import { ruleLayer } from "./rulelayer.js";

export const MAX_HISTORY = 5;

/** @typedef {{deployment: string, replacedAt: number}} Replaced */

/**
 * The pointer's history, newest first; malformed entries are left out (a
 * damaged history must never take the live site down).
 * @param {any} pointer  parsed alias pointer
 * @returns {Replaced[]}
 */
export function historyFromPointer(pointer) {
  const raw = pointer && typeof pointer === "object" ? pointer.history : undefined;
  if (!Array.isArray(raw)) return [];
  /** @type {Replaced[]} */
  const entries = [];
  for (const item of raw) {
    if (!item || typeof item !== "object") continue;
    const { deployment, replaced_at: replacedAt } = item;
    if (typeof deployment === "string" && isDeploymentId(deployment) && typeof replacedAt === "number" && Number.isFinite(replacedAt)) {
      entries.push({ deployment, replacedAt });
    }
  }
  return entries.slice(0, MAX_HISTORY);
}

/**
 * Whether a missing file at `path` may come from an earlier deployment: then the
 * answer depends on the alias's history and the clock, not on the deployment alone.
 * @param {import("./hosts.js").Site} site
 * @param {import("./paths.js").RequestPath} path
 */
export function skewApplies(site, path) {
  return site.kind !== "deployment" && !path.directory && isFingerprinted(pathKey(path));
}

/**
 * The file from an earlier deployment of the site's alias, or null (answer 404).
 * @param {import("./lookup.js").DeploymentLookup} lookup
 * @param {import("./hosts.js").Site} site
 * @param {import("./paths.js").RequestPath} path
 * @param {import("./lookup.js").WaitUntil} [ctx]
 * @param {import("./rules.js").RequestInfo} [info]  the request's host and URL pathname
 * @returns {Promise<{entry: import("./lookup.js").FileEntry, rules: import("./responses.js").Overlay} | null>}
 *   the entry and the headers to serve it with: its own deployment's header
 *   rules, and `immutable` (the name can never get other bytes)
 */
export async function earlierFile(lookup, site, path, ctx, info = {}) {
  if (!skewApplies(site, path)) return null;
  const key = pathKey(path);
  const alias = await lookup.aliasFor(site);
  if (alias === null) return null;
  for (const deployment of await lookup.earlierDeployments(alias)) {
    let manifest;
    try {
      manifest = await lookup.manifest(deployment, ctx);
    } catch (error) {
      // An old deployment's damage must not turn the current site's 404 into a 500.
      if (!(error instanceof BrokenSite)) throw error;
      console.error(`skipping earlier deployment ${deployment} of ${alias}: ${/** @type {Error} */ (error).message}`);
      continue;
    }
    const entry = manifest?.files.get(key);
    if (manifest && entry) {
      const rules = ruleLayer(manifest, path, info).filter(([name]) => name.toLowerCase() !== "cache-control");
      rules.push(["Cache-Control", IMMUTABLE_CACHE_CONTROL]);
      return { entry, rules };
    }
  }
  return null;
}
