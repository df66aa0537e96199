// What an isolate keeps in memory, and what each cached thing is counted as
// (the Worker twin of serve/memory.py).
//
// A Worker isolate may use 128 MB; past that Cloudflare ends it (and the
// requests it is serving). Every per-isolate map is therefore bounded:
//
//   manifests       LRU, by estimated bytes        MANIFEST_CACHE_BYTES (32 MiB),
//                   optionally also by count        MANIFEST_CACHE_ENTRIES (no cap)
//   alias answers   LRU, ENTRIES (10,000)           ~3.5 MB at most (63-character names)
//   domain answers  LRU, ENTRIES                     ~4.7 MB at most (250-character hosts)
//   alias histories LRU, HISTORY_ENTRIES (2,000)     ~1.6 MB at most (5 deployments each)
//   "no manifest"   LRU, ENTRIES                     ~0.8 MB at most
//   oversize notes  LRU, OVERSIZE_NOTES (1,000)      ~0.1 MB at most
//   manifest loads  one per deployment being read   bounded by requests in flight
// (measured in Node's V8; test/memory.test.mjs fills every map past its bound
// and wants them under 14 MB together). Histories get fewer entries than
// serve/: only real aliases have one, it is read only when a fingerprinted file
// is missing, and each costs ~800 bytes.
// Small bodies, whole answers and shared alias answers live in the Cache API,
// outside the isolate.
//
// Manifests differ a thousandfold in size (a 3-file site, a 20,000-file docs
// site), so counting them bounds nothing: 256 entries of 20,000 files would be
// about 4 GB. They are weighed instead, by an estimate from the manifest's JSON
// (on hand when it is read; it grows with every field a manifest carries) and
// its routing rules. Measured in V8 (test/memory.test.mjs, Node's V8, which is
// built without pointer compression, so its objects are at least as large as
// workerd's): parsed file entries take 1.8 to 2.5 times their JSON length; a
// compiled rule about 1.9 KB once matched (its RegExp code), far more than its JSON.
// The estimate errs high, so the cache stays within its budget.
//
// Why 32 MiB by default: a quarter of the isolate. It holds a 20,000-file
// manifest (~24 MB estimated, ~16 MB measured) beside hundreds of small ones,
// and leaves room for what else an isolate holds at once: a manifest being
// read (its text and its objects, until cached), small bodies of the requests
// in flight (each up to BODY_CACHE_ITEM_BYTES, buffered whole), the maps above
// (~11 MB at most together) and the runtime itself.

/** Entries of each per-isolate answer map (alias, domain, "no manifest"). */
export const ENTRIES = 10_000;
/** Alias histories kept (skew protection). */
export const HISTORY_ENTRIES = 2_000;
/** Deployments whose too-large manifest was reported recently (one warning an hour each). */
export const OVERSIZE_NOTES = 1_000;

const MIB = 1024 * 1024;
/** The largest MANIFEST_CACHE_BYTES accepted: an isolate's whole memory. */
export const ISOLATE_BYTES = 128 * MIB;
export const MANIFEST_CACHE_BYTES = 32 * MIB;

const MANIFEST_BASE = 512; // the Manifest, its Map and the cache entry, even when nearly empty
const JSON_FACTOR = 3; // parsed entries take 1.8-2.5x their JSON; rounded up to stay on the safe side
const RULE_COST = 2048; // a compiled redirect or header rule (RegExp and its code, arrays, strings)

/**
 * Estimated bytes a parsed manifest occupies, from the length of its JSON.
 * @param {number} jsonLength  characters of manifest.json (ASCII: its bytes)
 * @param {import("./lookup.js").Manifest} manifest
 */
export function manifestWeight(jsonLength, manifest) {
  const rules = manifest.routes ? manifest.routes.redirects.length + manifest.routes.headers.length : 0;
  return MANIFEST_BASE + JSON_FACTOR * jsonLength + RULE_COST * rules;
}

/**
 * A Map bounded by a number of entries; reads move an entry to the end, the oldest goes first.
 * @template V
 */
export class LRU {
  /** @param {number} limit */
  constructor(limit) {
    this.limit = limit;
    /** @type {Map<string, V>} */
    this.map = new Map();
  }

  /** @param {string} key */
  get(key) {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /** @param {string} key @param {V} value */
  set(key, value) {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.limit) this.map.delete(this.map.keys().next().value ?? "");
  }

  get size() {
    return this.map.size;
  }
}

/**
 * A Map bounded by the total weight of its entries (bytes, estimated by the
 * caller) and optionally by their number; least recently used entries go first.
 * @template V
 */
export class WeighedLRU {
  /** @param {number} maxWeight @param {number | null} [maxEntries]  null: no cap */
  constructor(maxWeight, maxEntries = null) {
    this.maxWeight = maxWeight;
    this.maxEntries = maxEntries;
    /** @type {Map<string, {weight: number, value: V}>} */
    this.map = new Map();
    this.weight = 0;
  }

  /** @param {string} key @returns {V | undefined} */
  get(key) {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, entry);
    return entry.value;
  }

  /**
   * Keep `value`, weighing `weight`; false when it could never fit (it is then
   * not kept: keeping it would only push everything else out).
   * @param {string} key @param {V} value @param {number} weight
   */
  set(key, value, weight) {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.weight -= old.weight;
    }
    if (weight > this.maxWeight || this.maxEntries === 0) return false;
    this.map.set(key, { weight, value });
    this.weight += weight;
    while (this.weight > this.maxWeight || (this.maxEntries !== null && this.map.size > this.maxEntries)) {
      const [oldest, entry] = /** @type {[string, {weight: number}]} */ (this.map.entries().next().value);
      this.map.delete(oldest);
      this.weight -= entry.weight;
    }
    return true;
  }

  get size() {
    return this.map.size;
  }
}
