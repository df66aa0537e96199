// Site -> deployment id -> manifest -> body, with the caches that keep this off R2
// (mirrors serve/lookup.py and serve/bodies.py).
//
// Aliases: the optional KV namespace ALIASES first (key: the alias name, value:
// the same JSON pointer the publisher writes to `aliases/<name>.json`), then the
// R2 pointer, the source of truth. An answer is reused in this isolate, and by the
// data centre's other isolates through the Cache API (aliascache.js), until
// `aliasTtlMs` after it was read, so a moved alias is seen within that time.
// Three answers: a deployment id, null (the pointer says "taken down"), or
// undefined (R2 has no pointer: unknown here, perhaps not replicated yet).
// Custom domains go the same way one step earlier: hostname -> project (the
// optional KV namespace DOMAINS, key the hostname, value the same JSON as
// `domains/<hostname>.json`, written by the control API; then R2) -> the project's production alias; an
// unmapped domain is unknown here too (undefined).
// Skew protection reads an alias pointer's `history` (src/skew.js) only when a
// fingerprinted file is missing from the current deployment.
// A deployment exists exactly when its manifest does (publishing writes it last).
// Manifests and blobs never change: manifests stay in a per-isolate LRU bounded
// by their estimated size (memory.js; one larger than the whole budget is
// served but not kept) and in the data centre's Cache API; small blobs go to the
// Cache API too, and whole answers per deployment id as well (answercache.js,
// used by index.js). Requests that want a manifest the isolate is already
// reading wait for that read rather than start their own: a cold 20,000-file
// site under load is read and parsed once, not once per request.
// Every per-isolate map is bounded (memory.js lists them).

import { SharedAliasCache } from "./aliascache.js";
import { AnswerCache } from "./answercache.js";
import { compileRoutes } from "./rules.js";
import { isDeploymentId, isProjectName } from "./hosts.js";
import { ENTRIES, HISTORY_ENTRIES, LRU, OVERSIZE_NOTES, WeighedLRU, manifestWeight } from "./memory.js";
import { historyFromPointer } from "./skew.js";

/**
 * @typedef {import("./config.js").Config} Config
 * @typedef {import("./hosts.js").Site} Site
 * @typedef {import("./rules.js").Routes} Routes
 * @typedef {{blob: string, size: number}} BlobRef  a body at `blobs/<blob>`, `size` bytes
 * @typedef {{blob: string, size: number, contentType: string, etag: string,
 *   headers: Record<string, string>, encodings: Map<string, BlobRef>}} FileEntry
 *   `encodings`: content coding (`br`, `gzip`) -> the precompressed body
 * @typedef {{deployment: string, files: Map<string, FileEntry>, routes: Routes | null}} Manifest
 * @typedef {{ get(key: string, options?: {range?: {offset: number, length: number}}): Promise<R2ObjectBody | null> }} R2Reader
 * @typedef {{ body: ReadableStream, size: number, arrayBuffer(): Promise<ArrayBuffer>, text(): Promise<string> }} R2ObjectBody
 */

// Synthetic URLs: the Cache API is keyed by request URL, and these never reach a network.
const CACHE_ORIGIN = "https://deploy-platform-edge.internal";
// A manifest too large to cache is worth one log line an hour, not one per request.
const OVERSIZE_NOTE_MS = 3600 * 1000;

/** A pointer or manifest exists but cannot be read: the platform, not the visitor, erred. */
export class BrokenSite extends Error {}

/** R2 could not be read: 503, try again. */
export class StoreUnavailable extends Error {}

/** R2 holds nothing for this alias or deployment (404; the origin may know it: origin.js). */
export class NotInStore extends Error {}

/** A manifest names a blob R2 lacks (500; the origin's store may hold it: origin.js). */
export class BlobMissing extends BrokenSite {}

export const manifestKey = (/** @type {string} */ id) => `deployments/${id}/manifest.json`;
export const blobKey = (/** @type {string} */ sha256) => `blobs/${sha256}`;
export const aliasKey = (/** @type {string} */ alias) => `aliases/${alias}.json`;
export const domainKey = (/** @type {string} */ hostname) => `domains/${hostname}.json`;

/**
 * @param {any} raw  parsed manifest.json
 * @param {string} id
 * @returns {Manifest}
 */
export function parseManifest(raw, id) {
  const where = manifestKey(id);
  if (!raw || typeof raw !== "object" || raw.version !== 1) {
    throw new BrokenSite(`manifest ${where} has unsupported version ${JSON.stringify(raw?.version)}`);
  }
  if (raw.deployment !== id) {
    throw new BrokenSite(`manifest ${where} belongs to deployment ${JSON.stringify(raw.deployment)}`);
  }
  if (!raw.files || typeof raw.files !== "object") throw new BrokenSite(`manifest ${where} has no files`);
  /** @type {Map<string, FileEntry>} */
  const files = new Map();
  for (const [path, e] of Object.entries(raw.files)) {
    const entry = /** @type {any} */ (e);
    if (
      !entry || typeof entry.blob !== "string" || !/^[0-9a-f]{64}$/.test(entry.blob) ||
      !Number.isSafeInteger(entry.size) || entry.size < 0 ||
      typeof entry.content_type !== "string" || typeof entry.etag !== "string"
    ) {
      throw new BrokenSite(`manifest ${where}: the entry for ${JSON.stringify(path)} is malformed`);
    }
    files.set(path, {
      blob: entry.blob,
      size: entry.size,
      contentType: entry.content_type,
      etag: entry.etag,
      headers: entry.headers && typeof entry.headers === "object" ? entry.headers : {},
      encodings: parseEncodings(entry.encodings, where, path),
    });
  }
  let routes;
  try {
    routes = compileRoutes(raw.routes);
  } catch (error) {
    throw new BrokenSite(`manifest ${where}: its routes are invalid: ${/** @type {Error} */ (error).message}`);
  }
  return { deployment: id, files, routes };
}

const SHA256 = /^[0-9a-f]{64}$/;
const CODING = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * A manifest entry's optional `encodings` (see deploy_platform/contracts/manifest.py).
 * @param {any} raw
 * @param {string} where
 * @param {string} path
 * @returns {Map<string, BlobRef>}
 */
function parseEncodings(raw, where, path) {
  /** @type {Map<string, BlobRef>} */
  const encodings = new Map();
  if (raw === undefined || raw === null) return encodings;
  const bad = () => new BrokenSite(`manifest ${where}: the encodings of ${JSON.stringify(path)} are malformed`);
  if (typeof raw !== "object" || Array.isArray(raw)) throw bad();
  for (const [coding, ref] of Object.entries(raw)) {
    if (!CODING.test(coding) || coding === "identity") throw bad();
    if (
      !ref || typeof ref !== "object" || typeof ref.blob !== "string" || !SHA256.test(ref.blob) ||
      !Number.isSafeInteger(ref.size) || ref.size < 0
    ) {
      throw bad();
    }
    encodings.set(coding, { blob: ref.blob, size: ref.size });
  }
  return encodings;
}

/**
 * One per isolate (per Env object): its caches outlive a request.
 */
export class DeploymentLookup {
  /**
   * @param {R2Reader} bucket
   * @param {KVNamespaceLike | undefined} aliases
   * @param {Config} config
   * @param {() => number} [clock]  Unix milliseconds (TTLs and the skew grace period)
   * @param {KVNamespaceLike} [domains]  optional KV: hostname -> domain pointer JSON
   */
  constructor(bucket, aliases, config, clock = Date.now, domains = undefined) {
    this.bucket = bucket;
    this.aliases = aliases;
    this.domains = domains;
    this.config = config;
    this.clock = clock;
    /** @type {LRU<{target: string | null | undefined, until: number}>} */
    this.aliasCache = new LRU(ENTRIES);
    this.sharedAliases = new SharedAliasCache(edgeCache());
    this.answers = new AnswerCache(edgeCache(), config.answerCacheSeconds);
    /** @type {LRU<{project: string | null, until: number}>} */
    this.domainCache = new LRU(ENTRIES);
    /** @type {LRU<{history: import("./skew.js").Replaced[], until: number}>} */
    this.historyCache = new LRU(HISTORY_ENTRIES);
    /** @type {WeighedLRU<Manifest>} */
    this.manifests = new WeighedLRU(config.manifestCacheBytes, config.manifestCacheEntries);
    /** @type {LRU<number>} deployment id -> "no manifest" until */
    this.noManifest = new LRU(ENTRIES);
    /** @type {Map<string, Promise<Manifest | null>>} manifests being read, shared by their requests */
    this.manifestLoads = new Map();
    /** @type {LRU<number>} deployment id -> until when its "too large to cache" was reported */
    this.oversizeNoted = new LRU(OVERSIZE_NOTES);
  }

  /**
   * @param {Site} site
   * @param {WaitUntil} [ctx]
   * @returns {Promise<string | null | undefined>}
   */
  async deploymentFor(site, ctx) {
    if (site.kind === "deployment") return site.name;
    const alias = await this.aliasFor(site);
    if (alias === null) return undefined; // an unmapped domain: unknown here
    return this.alias(alias, ctx);
  }

  /**
   * The alias an alias or custom-domain host follows; null for a deployment id.
   * @param {Site} site
   * @returns {Promise<string | null>}
   */
  async aliasFor(site) {
    if (site.kind === "alias") return site.name;
    if (site.kind === "domain") return this.domain(site.name); // production alias = project
    return null;
  }

  /**
   * The project a custom domain serves, or null when it is not mapped.
   * @param {string} hostname
   * @returns {Promise<string | null>}
   */
  async domain(hostname) {
    const now = this.clock();
    const cached = this.domainCache.get(hostname);
    if (cached && cached.until > now) return cached.project;
    const project = (await this.domainFromKv(hostname)) ?? (await this.domainFromStore(hostname));
    const ttl = project ? this.config.aliasTtlMs : this.config.negativeTtlMs;
    this.domainCache.set(hostname, { project, until: now + ttl });
    return project;
  }

  /** @param {string} hostname @returns {Promise<string | null>} */
  async domainFromKv(hostname) {
    if (!this.domains) return null;
    let raw;
    try {
      raw = await this.domains.get(hostname);
    } catch (error) {
      console.warn(`KV DOMAINS could not be read (${error}); reading R2 instead`);
      return null;
    }
    if (raw === null) return null;
    const project = domainProject(raw);
    if (project === null) {
      console.error(`KV DOMAINS[${hostname}] holds ${JSON.stringify(raw)}, not a domain pointer; reading R2 instead`);
    }
    return project;
  }

  /** @param {string} hostname @returns {Promise<string | null>} */
  async domainFromStore(hostname) {
    const key = domainKey(hostname);
    const object = await this.read(key);
    if (object === null) return null;
    const project = domainProject(await object.text());
    if (project === null) throw new BrokenSite(`${key} names no valid project`);
    return project;
  }

  /**
   * Deployments the alias pointed at before, still within the skew grace, newest first.
   * @param {string} alias
   * @returns {Promise<string[]>}
   */
  async earlierDeployments(alias) {
    const grace = this.config.skewGraceMs;
    if (grace <= 0) return [];
    const now = this.clock();
    let cached = this.historyCache.get(alias);
    if (!cached || cached.until <= now) {
      cached = { history: await this.history(alias), until: now + this.config.aliasTtlMs };
      this.historyCache.set(alias, cached);
    }
    return cached.history
      .filter((entry) => now < (entry.replacedAt * 1000) + grace)
      .map((entry) => entry.deployment);
  }

  /**
   * The alias pointer's history (KV first, it holds the same JSON; then R2);
   * anything unreadable is no history (the alias lookup itself reports damage).
   * @param {string} alias
   */
  async history(alias) {
    /** @type {string | null} */
    let raw = null;
    if (this.aliases) {
      try {
        raw = await this.aliases.get(alias);
      } catch {
        raw = null;
      }
      if (raw !== null && pointerTarget(raw) === undefined) raw = null;
    }
    if (raw === null) {
      const object = await this.read(aliasKey(alias));
      raw = object === null ? null : await object.text();
    }
    if (raw === null) return [];
    try {
      return historyFromPointer(JSON.parse(raw));
    } catch {
      return [];
    }
  }

  /**
   * The deployment id the alias points at; null: taken down; undefined: no pointer.
   * @param {string} name
   * @param {WaitUntil} [ctx]
   * @returns {Promise<string | null | undefined>}
   */
  async alias(name, ctx) {
    const now = this.clock();
    const cached = this.aliasCache.get(name);
    if (cached && cached.until > now) return cached.target;
    const shared = await this.sharedAliases.match(name, now);
    if (shared) {
      this.aliasCache.set(name, shared);
      return shared.target;
    }
    const target = (await this.aliasFromKv(name)) ?? (await this.aliasFromStore(name));
    const ttl = target ? this.config.aliasTtlMs : this.config.negativeTtlMs;
    const entry = { target, until: now + ttl };
    this.aliasCache.set(name, entry);
    this.sharedAliases.put(name, entry, now, ctx);
    return target;
  }

  /** @param {string} name @returns {Promise<string | null>} */
  async aliasFromKv(name) {
    if (!this.aliases) return null;
    let raw;
    try {
      raw = await this.aliases.get(name);
    } catch (error) {
      console.warn(`KV ALIASES could not be read (${error}); reading R2 instead`);
      return null;
    }
    if (raw === null) return null;
    const target = pointerTarget(raw);
    if (target === undefined || (target !== null && !isDeploymentId(target))) {
      console.error(`KV ALIASES[${name}] holds ${JSON.stringify(raw)}, not an alias pointer; reading R2 instead`);
      return null;
    }
    return target;
  }

  /** @param {string} name @returns {Promise<string | null | undefined>} */
  async aliasFromStore(name) {
    const key = aliasKey(name);
    const object = await this.read(key);
    if (object === null) return undefined;
    const raw = await object.text();
    const target = pointerTarget(raw);
    if (target === undefined) {
      throw new BrokenSite(`alias pointer ${key} is not a JSON object with a 'deployment' field`);
    }
    if (target !== null && !isDeploymentId(target)) {
      throw new BrokenSite(`alias pointer ${key} names ${JSON.stringify(target)}, not a deployment id`);
    }
    return target; // null: the alias was taken down
  }

  /**
   * The deployment's manifest, or null when the deployment does not exist (yet).
   * @param {string} id
   * @param {WaitUntil} [ctx]  keeps a Cache API write alive after the answer
   * @returns {Promise<Manifest | null>}
   */
  async manifest(id, ctx) {
    const cached = this.manifests.get(id);
    if (cached) return cached;
    const missingUntil = this.noManifest.get(id);
    if (missingUntil !== undefined && missingUntil > this.clock()) return null;
    let loading = this.manifestLoads.get(id);
    if (!loading) {
      loading = this.loadManifest(id, ctx).finally(() => this.manifestLoads.delete(id));
      this.manifestLoads.set(id, loading);
    }
    return loading;
  }

  /** @param {string} id @param {WaitUntil} [ctx] @returns {Promise<Manifest | null>} */
  async loadManifest(id, ctx) {
    const raw = await this.manifestJson(id, ctx);
    if (raw === null) {
      this.noManifest.set(id, this.clock() + this.config.negativeTtlMs);
      return null;
    }
    let data;
    try {
      data = JSON.parse(raw);
    } catch (error) {
      throw new BrokenSite(`manifest ${manifestKey(id)} is not JSON: ${error}`);
    }
    const manifest = parseManifest(data, id);
    const weight = manifestWeight(raw.length, manifest);
    const kept = this.manifests.set(id, manifest, weight);
    if (!kept && weight > this.manifests.maxWeight) this.noteOversize(id, weight);
    return manifest;
  }

  /**
   * Tell the operator (once an hour per deployment) that a manifest is too large to cache, and which setting to raise.
   * @param {string} id @param {number} weight
   */
  noteOversize(id, weight) {
    const now = this.clock();
    const until = this.oversizeNoted.get(id);
    if (until !== undefined && until > now) return;
    this.oversizeNoted.set(id, now + OVERSIZE_NOTE_MS);
    console.warn(
      `the manifest of ${id} (~${Math.round(weight / 1e6)} MB in memory) is larger than the manifest cache ` +
        `(MANIFEST_CACHE_BYTES=${this.manifests.maxWeight}): it is read and parsed again for every request`,
    );
  }

  /** @param {string} id @param {WaitUntil} [ctx] @returns {Promise<string | null>} */
  async manifestJson(id, ctx) {
    const cacheKey = `${CACHE_ORIGIN}/manifests/${id}`;
    const cache = edgeCache();
    const hit = cache ? await cache.match(cacheKey) : undefined;
    if (hit) return hit.text();
    const object = await this.read(manifestKey(id));
    if (object === null) return null;
    const text = await object.text();
    if (cache) {
      // Immutable once written, so it may stay as long as the data centre keeps it.
      const stored = new Response(text, {
        headers: { "Content-Type": "application/json", "Cache-Control": "public, max-age=31536000, immutable" },
      });
      ctx?.waitUntil(cache.put(cacheKey, stored));
    }
    return text;
  }

  /**
   * A body (the identity or a variant): small ones through the Cache API, large
   * ones streamed from R2; `range` reads only those bytes (a ranged R2 get for
   * large bodies, a slice of the cached bytes for small ones).
   * Throws BrokenSite when the blob is missing or its size differs from the manifest's.
   * @param {BlobRef} ref
   * @param {WaitUntil} [ctx]
   * @param {{start: number, end: number}} [range]
   * @returns {Promise<ReadableStream | ArrayBuffer>}
   */
  async body(ref, ctx, range) {
    const small = ref.size <= this.config.bodyCacheItemBytes;
    const cacheKey = `${CACHE_ORIGIN}/blobs/${ref.blob}`;
    const cache = small ? edgeCache() : undefined;
    const hit = cache ? await cache.match(cacheKey) : undefined;
    if (hit) return slice(await hit.arrayBuffer(), range);
    const options = range && !small ? { range: { offset: range.start, length: range.end - range.start + 1 } } : undefined;
    const object = await this.read(blobKey(ref.blob), options);
    if (object === null) throw new BlobMissing(`blob ${ref.blob} is missing`);
    if (object.size !== ref.size) {
      throw new BrokenSite(`blob ${ref.blob} holds ${object.size} bytes, the manifest says ${ref.size}`);
    }
    if (!small) return object.body;
    const bytes = await object.arrayBuffer();
    if (cache) {
      const stored = new Response(bytes.slice(0), {
        headers: { "Cache-Control": "public, max-age=31536000, immutable" },
      });
      ctx?.waitUntil(cache.put(cacheKey, stored));
    }
    return slice(bytes, range);
  }

  /** @param {string} key @param {{range: {offset: number, length: number}}} [options] */
  async read(key, options) {
    try {
      return await (options ? this.bucket.get(key, options) : this.bucket.get(key));
    } catch (error) {
      throw new StoreUnavailable(`R2 get ${key} failed: ${error}`);
    }
  }
}

/**
 * @param {ArrayBuffer} bytes
 * @param {{start: number, end: number}} [range]
 */
function slice(bytes, range) {
  return range ? bytes.slice(range.start, range.end + 1) : bytes;
}

/**
 * The `deployment` of a pointer's JSON: an id, null (taken down), or undefined (malformed).
 * @param {string} raw
 * @returns {string | null | undefined}
 */
function pointerTarget(raw) {
  try {
    const pointer = JSON.parse(raw);
    if (!pointer || typeof pointer !== "object" || !("deployment" in pointer)) return undefined;
    const target = pointer.deployment;
    return target === null || typeof target === "string" ? target : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The project of a domain pointer's JSON (`{"project": "docs", "created_at": ...}`), or null.
 * @param {string} raw
 * @returns {string | null}
 */
function domainProject(raw) {
  try {
    const pointer = JSON.parse(raw);
    const project = pointer?.project;
    return typeof project === "string" && isProjectName(project) ? project : null;
  } catch {
    return null;
  }
}

/** @typedef {{ get(key: string): Promise<string | null> }} KVNamespaceLike */
/** @typedef {{ waitUntil(promise: Promise<unknown>): void }} WaitUntil */

/**
 * The data centre's cache (`caches.default`); undefined outside the Workers runtime.
 * @returns {{ match(key: string): Promise<Response | undefined>, put(key: string, r: Response): Promise<void> } | undefined}
 */
function edgeCache() {
  return /** @type {any} */ (globalThis).caches?.default;
}
